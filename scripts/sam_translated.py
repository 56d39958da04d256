"""The template as CloudFormation receives it: `sam validate`'s own translation (SAM CLI's SamTemplateValidator,
the SAM translator), without AWS credentials, written for checkov (`make checkov`).

    python scripts/sam_translated.py TEMPLATE OUTPUT

`sam validate` asks IAM for the managed policies' ARNs before translating; the template names none by name (its
policies are policy templates and its own managed policy), so the loader here answers an empty map and the
translation is the one `sam validate` would make. Local CodeUri and ContentUri are replaced by an S3 URI, as
`sam validate` does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
from samcli.lib.translate.sam_template_validator import SamTemplateValidator
from samcli.yamlhelper import yaml_parse


class NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def main(template: str, output: str) -> None:
    document = yaml_parse(Path(template).read_text())
    validator = SamTemplateValidator(document, NoManagedPolicies(),
                                     region="us-east-1", profile=None)
    validator.boto3_session = boto3.Session(region_name="us-east-1")
    translated = validator.get_translated_template_if_valid()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(translated)
    print(f"{output}: {len(yaml_parse(translated)['Resources'])} resources, translated as `sam validate` does")


if __name__ == "__main__":
    main(*sys.argv[1:3])
