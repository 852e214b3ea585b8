"""Shared by the unit and the e2e tests. Being here, this file puts ``tests/`` on ``sys.path``
(pytest's rootdir-less conftest import), so both can import the helper modules kept beside it
(``privacy_images``)."""
