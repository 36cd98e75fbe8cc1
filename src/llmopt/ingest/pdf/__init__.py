"""PDF internals: reading (pypdfium2), layout (reading order, headings), tables and figures."""
