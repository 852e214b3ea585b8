"""Pure rules: functions of their arguments, no I/O."""
