#!/usr/bin/env python3
# Validate JSON files against a JSON Schema (the test-only use of
# python3-jsonschema): validate-json.py SCHEMA FILE... Exit 0 valid,
# 1 invalid (each error printed), 77 when jsonschema is not installed.
import json
import sys

try:
    import jsonschema
except ImportError:
    print("validate-json: python3-jsonschema is not installed", file=sys.stderr)
    sys.exit(77)

schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
bad = 0
for path in sys.argv[2:]:
    for err in cls(schema).iter_errors(json.load(open(path))):
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        print(f"{path}: {where}: {err.message}")
        bad += 1
sys.exit(1 if bad else 0)
