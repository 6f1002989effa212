"""The completion domain: request -> prompt -> stream of text. Engine-agnostic, HTTP-free."""
