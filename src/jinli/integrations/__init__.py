"""Protocol clients with no business rules (M12): WeChat Pay (v2 XML, v3 JSON, signing,
callbacks, bills), and the local WeChat simulator that is the offline default."""
