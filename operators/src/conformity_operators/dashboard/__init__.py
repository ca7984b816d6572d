"""The live dashboard: a FastAPI app that reads the four streams and serves one page."""
