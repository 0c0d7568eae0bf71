"""Range coding: CDF tables, the exact integer h_s, model codecs, the file format."""
