"""FHIR R4 in and out: one mapping module per resource (both directions), Bundles, Bulk
Data NDJSON, a streaming importer and exporter, and the ``import``/``export`` commands.

- :mod:`.patient`, :mod:`.condition`, :mod:`.observation`, :mod:`.questionnaire`,
  :mod:`.procedure`, :mod:`.medication`, :mod:`.careplan`, :mod:`.goal`, :mod:`.imaging`
  — mappings;
  code tables with citations in ``data/*.toml``
- :mod:`.validate` — fast structural validation that agrees with ``fhir.resources`` R4B
- :mod:`.bundle`, :mod:`.ndjson` — formats
- :mod:`.importer` (:class:`Importer`), :mod:`.exporter` (:func:`export_patient`,
  :func:`export_all`)
"""
