"""The kernel every plugin imports: the call event contract, errors, records, secrets, value
coercion, the phone normalizer and the YAML loader. It imports nothing else of the project."""
