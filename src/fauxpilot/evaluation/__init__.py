"""Completion quality measured through the HTTP API: HumanEval and HumanEval-Infilling.

The evaluation is a client of the server: it sends OpenAI completion requests over HTTP,
runs each completion's test program in a sandbox (`sandbox.py`) and reports pass@k. It never
imports the engine, so it measures any OpenAI-compatible completion server the same way.
"""
