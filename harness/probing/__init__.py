"""Diagnosing one implementation with probes (`conv-harness diagnose`).

In: an `Implementation`. Out: a `Diagnosis`: each property probe's finding, the causes named and a
shrunk counterexample.
"""
