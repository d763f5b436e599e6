"""Law-9 org benchmark: export the metadata, build the test org from it, and what it holds.

Prints the number of files and components the export writes for the shipped mappings and the
conflict scan, the time to export, to parse the SFDX XML back into an org schema, and to start a
FakeSalesforce from it (median of ``--repeat`` runs; the machine is shared, so read them as
orders of magnitude), plus the custom objects and fields the resulting org has.

    .venv/bin/python bench/metadata_org_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sfsync.testing import FakeSalesforce, export_org_metadata, org_schema_from_metadata, standard_org_schema


def _median_seconds(action: object, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sfsync-bench-") as folder:
        out = Path(folder) / "export"
        export_seconds = _median_seconds(lambda: export_org_metadata(out), args.repeat)
        files = [p for p in out.rglob("*") if p.is_file()]
        fields = [p for p in files if p.name.endswith(".field-meta.xml")]
        objects = [p for p in files if p.name.endswith(".object-meta.xml")]
        permission_sets = [p for p in files if p.name.endswith(".permissionset-meta.xml")]
        parse_seconds = _median_seconds(lambda: org_schema_from_metadata(out), args.repeat)
        start_seconds = _median_seconds(lambda: FakeSalesforce.from_metadata(out), args.repeat)
        schema = org_schema_from_metadata(out)
        standard = standard_org_schema()
    custom_fields = sum(1 for o in schema.objects.values() for f in o.fields.values() if f.is_custom)
    on_standard = sorted(
        f"{o.name}.{f.name}"
        for o in schema.objects.values()
        if o.name in standard.objects
        for f in o.fields.values()
        if f.is_custom
    )
    print(
        f"export: {len(files)} files ({len(objects)} custom objects, {len(fields)} custom fields, "
        f"{len(permission_sets)} permission sets, manifest, sfdx-project.json)"
    )
    print(f"export time (median of {args.repeat}):         {export_seconds * 1000:8.1f} ms")
    print(f"parse XML -> org schema (median):       {parse_seconds * 1000:8.1f} ms")
    print(f"FakeSalesforce.from_metadata (median):  {start_seconds * 1000:8.1f} ms")
    print(
        f"org: {len(schema.objects)} objects ({len(schema.objects) - len(standard.objects)} custom), "
        f"{custom_fields} custom fields, {len(on_standard)} of them on standard objects:"
    )
    for name in on_standard:
        print(f"  {name}")


if __name__ == "__main__":
    main()
