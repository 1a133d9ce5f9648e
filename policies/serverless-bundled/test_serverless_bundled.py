from pathlib import Path

from governance.models import Outcome
from governance.testing import evaluate

SAM = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 10
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/orders/
      Handler: app.handler
      Role: !GetAtt OrdersRole.Arn
      Events:
        Api:
          Type: Api
          Properties: {Path: /orders, Method: get}
  Payments:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/payments/
      Handler: app.handler
      Environment:
        Variables:
          TABLE: !Ref Table
  Table:
    Type: AWS::DynamoDB::Table
"""
HANDLER = "import json\n\n\ndef handler(event, context):\n    return {'statusCode': 200}\n"
SERVERLESS_YML = """\
service: orders
provider:
  name: aws
  runtime: python3.12
functions:
  list:
    handler: handler.list
  create:
    handler: handler.create
"""


def test_sam_template_bundles_the_functions(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "serverless-bundled", {
        "template.yaml": SAM,
        "src/orders/app.py": HANDLER,
        "src/payments/app.py": HANDLER,
    })
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.message == "functions bundled by AWS SAM template template.yaml, 2 functions"
    assert finding.details["top_level"] == ["template.yaml"]
    assert (finding.path, finding.line) == ("template.yaml", 7)  # `Orders:`


def test_serverless_framework_service_with_handlers_passes(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "serverless-bundled", {
        "serverless.yml": SERVERLESS_YML,
        "functions/handler.py": HANDLER,
    })
    assert finding.outcome is Outcome.PASS, finding.message
    assert "Serverless Framework service serverless.yml, 2 functions" in finding.message
    assert finding.line == 5


def test_cdk_app_with_lambda_constructs_passes(tmp_path: Path) -> None:
    stack = ("import * as lambda from 'aws-cdk-lib/aws-lambda';\n"
             "new lambda.Function(this, 'Fn', {handler: 'index.handler'});\n")
    finding = evaluate(tmp_path, "serverless-bundled", {
        "cdk.json": '{"app": "npx ts-node bin/app.ts"}',
        "lib/stack.ts": stack,
        "lambda/index.js": "exports.handler = async (event) => ({ ok: true });\n",
    })
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.details["bundles"][0]["kind"] == "AWS CDK app"


def test_handler_code_without_a_bundle_fails(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "serverless-bundled", {
        "lambda/resize/lambda_function.py": (
            "import boto3\n\ndef lambda_handler(event, context):\n    return None\n"),
        "README.md": "Upload the zip in the console.\n",
    })
    assert finding.outcome is Outcome.FAIL
    assert finding.message.startswith("1 serverless handler with no codified bundle")
    assert "lambda/resize/lambda_function.py" in finding.message
    assert (finding.path, finding.line) == ("lambda/resize/lambda_function.py", 3)
    assert "serverless.yml" in finding.remediation


def test_two_competing_bundles_fail_and_are_named(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "serverless-bundled", {
        "template.yaml": SAM,
        "legacy/serverless.yml": SERVERLESS_YML,
        "legacy/handler.py": HANDLER,
    })
    assert finding.outcome is Outcome.FAIL
    assert finding.message.startswith(
        "functions spread across 2 bundle configurations "
        "(AWS SAM template, Serverless Framework service)")
    assert "template.yaml" in finding.message and "legacy/serverless.yml" in finding.message
    assert sorted(loc.path for loc in finding.locations) == ["legacy/serverless.yml",
                                                             "template.yaml"]


def test_max_bundles_option_allows_several(tmp_path: Path) -> None:
    files = {"a/serverless.yml": SERVERLESS_YML, "b/serverless.yml": SERVERLESS_YML}
    default = evaluate(tmp_path / "default", "serverless-bundled", files)
    relaxed = evaluate(tmp_path / "relaxed", "serverless-bundled", files,
                       options={"max_bundles": 2})
    assert default.outcome is Outcome.FAIL
    assert relaxed.outcome is Outcome.PASS
    assert relaxed.message.startswith("functions bundled by 2 configurations")


def test_serverless_compose_bundles_its_services(tmp_path: Path) -> None:
    compose = "services:\n  a:\n    path: a\n  b:\n    path: b\n"
    finding = evaluate(tmp_path, "serverless-bundled", {
        "serverless-compose.yml": compose,
        "a/serverless.yml": SERVERLESS_YML,
        "b/serverless.yml": SERVERLESS_YML,
    })
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.details["top_level"] == ["serverless-compose.yml"]
    assert "composing a/serverless.yml, b/serverless.yml" in finding.message


def test_sam_nested_application_is_part_of_its_parent(tmp_path: Path) -> None:
    parent = ("Transform: AWS::Serverless-2016-10-31\nResources:\n  Api:\n"
              "    Type: AWS::Serverless::Application\n    Properties:\n"
              "      Location: api/template.yaml\n")
    finding = evaluate(tmp_path, "serverless-bundled",
                       {"template.yaml": parent, "api/template.yaml": SAM})
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.details["top_level"] == ["template.yaml"]


def test_terraform_lambda_bundles_handler_code(tmp_path: Path) -> None:
    main = ('module "fn" {\n  source = "./modules/fn"\n}\n')
    module = ('resource "aws_lambda_function" "fn" {\n  function_name = "x"\n'
              '  handler = "index.handler"\n}\n')
    finding = evaluate(tmp_path, "serverless-bundled", {
        "main.tf": main,
        "modules/fn/main.tf": module,
        "lambda/index.mjs": "export const handler = async () => 1;\n",
    })
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.details["top_level"] == ["main.tf"]


def test_azure_functions_app(tmp_path: Path) -> None:
    files = {"host.json": '{"version": "2.0"}',
             "HttpTrigger/function.json": '{"bindings": []}',
             "HttpTrigger/__init__.py": "def main(req):\n    return 'ok'\n"}
    finding = evaluate(tmp_path / "app", "serverless-bundled", files)
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.message == "functions bundled by Azure Functions app host.json, 1 function"

    orphan = evaluate(tmp_path / "orphan", "serverless-bundled",
                      {"HttpTrigger/function.json": '{"bindings": []}'})
    assert orphan.outcome is Outcome.FAIL
    assert "HttpTrigger/function.json" in orphan.message


def test_no_serverless_code_is_not_applicable(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "serverless-bundled", {
        "src/functions/math.js": "export function add(a, b) { return a + b; }\n",
        "handlers/web.py": "@app.route('/orders')\ndef handler():\n    return 'ok'\n",
        "tests/lambda/test_handler.py": "def handler(event, context):\n    pass\n",
        "infra/bucket.yaml": ("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n"
                              "  B:\n    Type: AWS::S3::Bucket\n"),
        "cdk/cdk.json": '{"app": "python app.py"}',
        "cdk/app.py": "from aws_cdk import aws_s3 as s3\n",
    })
    assert finding.outcome is Outcome.NOT_APPLICABLE
    assert finding.message == "no serverless functions found"


def test_every_file_the_check_reads_is_declared_for_remote_providers() -> None:
    from governance.snapshot import matches
    from governance.testing import bundled_policy

    declared = bundled_policy("serverless-bundled").definition.reads.files
    for path in ["template.yaml", "svc/serverless.yml", "serverless.ts",
                 "serverless-compose.yml", "cdk.json", "lib/stack.ts", "main.tf",
                 "lambda/fn/lambda_function.py", "functions/index.mjs", "cmd/main.go",
                 "host.json", "Http/function.json", "firebase.json", "netlify.toml",
                 "vercel.json", "requirements.txt", "package.json"]:
        assert matches(path, declared), path


def test_netlify_functions_need_netlify_toml(tmp_path: Path) -> None:
    function = "export const handler = async () => ({ statusCode: 200 });\n"
    bare = evaluate(tmp_path / "bare", "serverless-bundled",
                    {"netlify/functions/hello.mjs": function})
    assert bare.outcome is Outcome.FAIL
    assert "netlify/functions/hello.mjs" in bare.message

    bundled = evaluate(tmp_path / "bundled", "serverless-bundled", {
        "netlify/functions/hello.mjs": function,
        "netlify.toml": '[build]\n  command = "npm run build"\n',
    })
    assert bundled.outcome is Outcome.PASS, bundled.message
    assert bundled.message == "functions bundled by Netlify functions netlify.toml"
