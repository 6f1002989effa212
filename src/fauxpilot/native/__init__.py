"""The native engine's build: which llama.cpp build this CPU runs, proven by a real decode.

Everything in this package uses only the standard library (and llama_cpp in the probe's
child), so set-up can run it before FauxPilot's dependencies are installed.
"""
