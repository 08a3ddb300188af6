"""Server-rendered edges: the operator console (``console/``) and, later, consumer H5 pages."""
