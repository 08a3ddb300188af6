"""Consumer H5 pages (M3 scan-to-win): mobile, Chinese, no JavaScript framework. Identity is
WeChat OAuth (``snsapi_base``) kept in a signed cookie; see ``identity`` and ``views``."""
