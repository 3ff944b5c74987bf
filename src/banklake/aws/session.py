"""Where ``banklake aws`` talks to: credentials, region and endpoint, and AWS errors as messages.

Credentials come from boto3's standard chain (environment, ``--profile``/``AWS_PROFILE``, SSO,
instance or container roles). ``--endpoint-url`` points every client at an emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from banklake.errors import AwsError, UsageError

# Error codes that mean the caller's identity may not do this, across services.
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
}


def require_boto3() -> None:
    """A one-line message, not a traceback, where the ``aws`` extra is not installed."""
    try:
        import boto3  # noqa: F401
        import botocore  # noqa: F401
    except ImportError:
        raise UsageError(
            "`banklake aws` needs boto3 and botocore, the aws extra: pip install 'banklake[aws]'"
        ) from None


@dataclass
class AwsTarget:
    """One account and region, reached with one set of credentials."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @cached_property
    def session(self) -> Any:
        require_boto3()
        import boto3
        from botocore.exceptions import ProfileNotFound

        try:
            session = boto3.Session(profile_name=self.profile, region_name=self.region)
        except ProfileNotFound:
            raise UsageError(
                f"AWS profile {self.profile!r} is not in your AWS config; "
                "see `aws configure list-profiles`"
            ) from None
        if not session.region_name:
            raise UsageError("no AWS region: pass --region or set AWS_REGION / a profile region")
        return session

    @property
    def region_name(self) -> str:
        return str(self.session.region_name)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url)
        return self._clients[service]

    @cached_property
    def account(self) -> str:
        with aws_errors("reading your AWS identity (sts:GetCallerIdentity)"):
            return str(self.client("sts").get_caller_identity()["Account"])


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Turn botocore's errors into one-line messages that say what was being done."""
    require_boto3()
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    from botocore.parsers import ResponseParserError

    try:
        yield
    except NoCredentialsError:
        raise AwsError(
            f"{doing}: no AWS credentials found; run `aws configure` or `aws sso login`, "
            "or pass --profile"
        ) from None
    except ClientError as error:
        code = error_code(error)
        message = error.response.get("Error", {}).get("Message", str(error))
        if code in _DENIED:
            raise AwsError(
                f"{doing}: access denied ({code}): {message}. The identity you run as needs "
                "this permission; see the deploy guide in the README"
            ) from None
        raise AwsError(f"{doing}: {code}: {message}") from None
    except (BotoCoreError, Boto3Error) as error:  # S3 transfers wrap the ClientError
        raise AwsError(f"{doing}: {error}") from None
    except ResponseParserError as error:
        raise AwsError(f"{doing}: the service's answer could not be read: {error}") from None
