"""What Porch accepts as an upload (the upload endpoint decides a file's type from its bytes;
the visitor socket tells the widget which types to offer)."""

#: The content types an upload may have, decided from its first bytes.
UPLOAD_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
)
