"""The pages `fauxpilot serve` shows in a browser, with every asset served from the package."""
