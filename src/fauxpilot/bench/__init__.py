"""Editor-like load against any OpenAI-compatible completion server."""
