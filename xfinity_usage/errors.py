"""Exceptions raised by the library, and the exit code the CLI maps each to.

Every failure is an :class:`XfinityUsageError`. Catch a subclass to act on
one kind of failure; :attr:`XfinityUsageError.exit_code` is what the
``xfinity-usage`` command exits with for it.
"""
import enum


class ExitCode(enum.IntEnum):
    """Exit codes of ``xfinity-usage`` (the Nagios mode of ``--warn``/``--crit`` uses 0-3 instead)."""

    OK = 0
    ERROR = 1               #: unexpected internal error
    CONFIGURATION = 2       #: bad command line, option value or configuration (argparse also uses 2)
    USAGE = 2               #: another name of CONFIGURATION, kept for callers of earlier versions
    BAD_CREDENTIALS = 3     #: the site refused the username or password
    ACCOUNT_ACTION = 4      #: MFA, verification or password reset needed on the site
    ACCESS_DENIED = 5       #: the site's bot protection blocked us (or we are cooling down)
    SITE_UNAVAILABLE = 6    #: the site did not answer usefully, even after retries
    SITE_CHANGED = 7        #: an expected page element or JSON endpoint is gone
    BROWSER = 8             #: no usable browser or driver
    GRAPHITE = 9            #: the reading was fetched but the Graphite push failed
    SIGN_IN_EXPIRED = 10    #: the app sign-in was revoked or expired: run --app-sign-in again
    MQTT = 11               #: the reading was fetched but the MQTT broker did not take it
    HISTORY = 12            #: the history database cannot be opened, created or understood
    PROMETHEUS = 13         #: the reading was fetched but the Prometheus export failed
    LOCKED = 14             #: another --interval process already runs for this account
    WEBHOOK = 15            #: the reading was fetched but the --webhook POST failed
    NOTIFY = 16             #: a --notify message (or --notify-test) was not sent
    INTERRUPTED = 130       #: SIGINT/SIGTERM
    CLOSED_PIPE = 141       #: standard output was closed early (e.g. ``| head``); nothing is said


class XfinityUsageError(Exception):
    """Base class of every error this package raises."""

    exit_code = ExitCode.ERROR
    #: True when trying again soon may help (the retry logic uses it).
    transient = False
    #: Short name of the failure class, for the CLI's one-line message.
    label = "error"


class ConfigError(XfinityUsageError):
    """Missing or invalid configuration (credentials, options, paths)."""

    label = "configuration"

    exit_code = ExitCode.USAGE


class BadCredentialsError(XfinityUsageError):
    """The site rejected the Xfinity ID or password."""

    label = "bad credentials"

    exit_code = ExitCode.BAD_CREDENTIALS


class AccountActionRequiredError(XfinityUsageError):
    """The site wants a human: MFA code, verification or a password reset."""

    label = "account action required"

    exit_code = ExitCode.ACCOUNT_ACTION


class AccessDeniedError(XfinityUsageError):
    """The site's bot protection answered ``Access Denied``."""

    label = "access denied"

    exit_code = ExitCode.ACCESS_DENIED


class SiteUnavailableError(XfinityUsageError):
    """The site failed (5xx, reset, blank page, timeout); trying later may work."""

    label = "site unavailable"

    exit_code = ExitCode.SITE_UNAVAILABLE
    transient = True


class SiteChangedError(XfinityUsageError):
    """An element or endpoint the tool relies on is missing: the site changed."""

    label = "site changed"

    exit_code = ExitCode.SITE_CHANGED


class DataError(SiteChangedError, ValueError):
    """The usage data is present but doubtful (fails validation); never guessed."""

    label = "doubtful data"


class BrowserError(XfinityUsageError):
    """The browser or its WebDriver could not be found or started."""

    label = "browser"

    exit_code = ExitCode.BROWSER


class GraphiteError(XfinityUsageError):
    """Sending the reading to Graphite failed."""

    label = "graphite"

    exit_code = ExitCode.GRAPHITE


class SignInExpiredError(XfinityUsageError):
    """The app's refresh token (or sign-in code) was refused as expired or revoked (``invalid_grant``)."""

    label = "sign-in expired"

    exit_code = ExitCode.SIGN_IN_EXPIRED


class MqttError(XfinityUsageError):
    """Publishing to the MQTT broker failed: no connection, refused, or no acknowledgement."""

    label = "mqtt"

    exit_code = ExitCode.MQTT


class PrometheusError(XfinityUsageError):
    """Writing the Prometheus textfile or serving ``/metrics`` failed."""

    label = "prometheus"

    exit_code = ExitCode.PROMETHEUS


class LockedError(XfinityUsageError):
    """Another long-running process (``--interval``) holds this account's lock."""

    label = "locked"

    exit_code = ExitCode.LOCKED


class WebhookError(XfinityUsageError):
    """POSTing the reading to ``--webhook`` failed: no connection, an untrusted certificate, or an error answer."""

    label = "webhook"

    exit_code = ExitCode.WEBHOOK


class NotifyError(XfinityUsageError):
    """A ``--notify`` message (or ``--notify-test``) was not sent: the service refused it or did not answer."""

    label = "notify"

    exit_code = ExitCode.NOTIFY
