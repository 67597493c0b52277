"""The pure clinical core of hipspine: vocabulary, case model, assessment, instruments.

Nothing here performs I/O beyond reading the package's own reviewed data files, and nothing
here imports from storage, web or FHIR code: adapters translate at the edges.
"""
