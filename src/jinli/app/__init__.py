"""The composition root: builds the runtime from settings and assembles API, console and H5."""
