"""WeChat (the official account, not Pay): the OAuth2 web authorisation client that identifies
consumers on H5 pages (M12). Protocol only, no business rules; the simulator and WeChat itself
are reached by configuration alone."""
