"""HTML of the simulated site's pages.

Plain forms that submit without scripts; the one script (the app shell's)
is ES5 with ``XMLHttpRequest`` so it also runs in PhantomJS 2.1.1.
"""
from __future__ import annotations

import json
from html import escape

BAD_PASSWORD = "The Xfinity ID or password you entered was incorrect. Please try again."
MISSING_USER = "Please enter your Xfinity ID."

LOGIN_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; background: #f2f2f2; margin: 0; }
main { width: 360px; margin: 60px auto; background: #fff; padding: 24px 32px; }
label.field { display: block; margin: 16px 0 4px; }
input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: 8px; font-size: 16px; }
.hint { color: #b00; }
.remember { position: relative; margin: 16px 0; height: 24px; }
/* The real checkbox sits beneath its styled label: the label receives every click. */
#remember_me { position: absolute; left: 0; top: 0; width: 20px; height: 20px; margin: 0; opacity: 0; z-index: 1; }
#remember_me_checkbox { position: absolute; left: 0; top: 0; z-index: 2; display: block;
  padding-left: 30px; line-height: 20px; white-space: nowrap; cursor: pointer; }
#remember_me_checkbox:before { content: ""; position: absolute; left: 0; top: 0; width: 18px; height: 18px;
  border: 1px solid #555; }
#remember_me:checked + #remember_me_checkbox:before { background: #1f69ff; }
button { margin-top: 12px; padding: 10px 24px; font-size: 16px; background: #1f69ff; color: #fff; border: 0; }
"""


def document(title: str, body: str, style: str = "", head: str = "") -> str:
    """A complete HTML page."""
    style_tag = f"<style>{style}</style>" if style else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title>{style_tag}{head}</head>\n<body>\n{body}\n</body></html>\n")


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def _remember(checked: bool) -> str:
    mark = " checked" if checked else ""
    return ('<div class="remember">'
            f'<input type="checkbox" id="remember_me" name="rm" value="1"{mark}>'
            '<label id="remember_me_checkbox" for="remember_me">Keep me signed in</label></div>')


def login_page(step: str, continue_url: str, user: str = "", *, hint: str | None = None,
               remember: bool = False) -> str:
    """The two-step sign-in form: ``step`` is ``"username"`` or ``"password"``.

    ``hint`` is an error shown above the field (``#passwd-hint`` on the password step).
    """
    parts = ['<main class="signin"><h1>Sign in with your Xfinity ID</h1>',
             '<form name="signin" method="post" action="/login" autocomplete="off" novalidate>',
             _hidden("flowStep", step), _hidden("continue", continue_url),
             _hidden("r", "comcast.net"), _hidden("s", "oauth"), _hidden("client_id", "my-account-web")]
    if step == "username":
        if hint:
            parts.append(f'<p id="user-hint" class="hint">{escape(hint)}</p>')
        parts.append('<label class="field" for="user">Email, mobile, or username</label>')
        parts.append(f'<input type="text" id="user" name="user" value="{escape(user)}" autocomplete="username">')
        parts.append(_remember(remember))
        parts.append('<button type="submit" id="sign_in">Let\'s go</button>')
    else:
        parts.append(_hidden("user", user))
        if remember:
            parts.append(_hidden("rm", "1"))
        parts.append('<label class="field" for="user">Xfinity ID</label>')
        parts.append(f'<input type="text" id="user" value="{escape(user)}" disabled>')
        if hint:
            parts.append(f'<p id="passwd-hint" class="hint">{escape(hint)}</p>')
        parts.append('<label class="field" for="passwd">Password</label>')
        parts.append('<input type="password" id="passwd" name="passwd" value="" autocomplete="current-password">')
        parts.append('<button type="submit" id="sign_in">Sign in</button>')
    parts.append("</form></main>")
    return document("Sign in to Xfinity", "\n".join(parts), LOGIN_STYLE)


def legacy_login_page(continue_url: str, user: str = "", *, hint: str | None = None) -> str:
    """The 2017 one-page sign-in form: user and password together, no ``flowStep``."""
    parts = ['<main class="signin"><h1>Sign in to Xfinity</h1>',
             '<form name="signin" method="post" action="/login">',
             _hidden("continue", continue_url), _hidden("r", "comcast.net"), _hidden("s", "oauth")]
    if hint:
        parts.append(f'<p id="passwd-hint" class="hint">{escape(hint)}</p>')
    parts.append('<label class="field" for="user">Xfinity ID</label>')
    parts.append(f'<input type="text" id="user" name="user" value="{escape(user)}">')
    parts.append('<label class="field" for="passwd">Password</label>')
    parts.append('<input type="password" id="passwd" name="passwd" value="">')
    parts.append(_remember(False))
    parts.append('<button type="submit" id="sign_in">Sign In</button>')
    parts.append("</form></main>")
    return document("Sign in to Xfinity", "\n".join(parts), LOGIN_STYLE)


def _challenge_page(title: str, lead: str, form: str, action: str, continue_url: str, fields: list,
                    button: str, hint: str | None) -> str:
    """A page after the password that asks for something more; ``fields`` are (id, label, type, autocomplete)."""
    error = f'<p id="{fields[0][0]}-hint" class="hint">{escape(hint)}</p>' if hint else ""
    inputs = "".join(f'<label class="field" for="{ident}">{label}</label>'
                     f'<input type="{kind}" id="{ident}" name="{ident}" autocomplete="{complete}">'
                     for ident, label, kind, complete in fields)
    body = (f"<main><h1>{title}</h1><p>{lead}</p>"
            f'<form name="{form}" method="post" action="{action}">'
            f'{_hidden("continue", continue_url)}{error}{inputs}'
            f'<button type="submit" id="{button}">Continue</button></form></main>')
    return document(title, body, LOGIN_STYLE)


def mfa_page(continue_url: str, *, hint: str | None = None) -> str:
    """The verification-code page shown after the password in scenario ``mfa``."""
    return _challenge_page("Verify your identity", "We sent a verification code to the phone number on your account.",
                           "verify", "/verify", continue_url,
                           [("verificationCode", "Verification code", "text", "one-time-code")], "verify", hint)


def password_reset_page(continue_url: str, *, hint: str | None = None) -> str:
    """The forced password reset of scenario ``password_reset``: a new password is required."""
    return _challenge_page("Reset your password",
                           "For your security, you need to create a new password before you can continue.",
                           "resetPassword", "/password/reset", continue_url,
                           [("newPassword", "New password", "password", "new-password"),
                            ("confirmPassword", "Confirm new password", "password", "new-password")],
                           "reset_submit", hint)


def security_check_page(skip_url: str) -> str:
    """The interstitial of scenario ``security_check``; "Ask me later" (``a.cancel``) goes on."""
    body = ('<main><h1>Security Check</h1>'
            "<p>Help us keep your account secure: review your contact information.</p>"
            '<p><a class="button" href="/security-check/review">Review now</a></p>'
            f'<p><a class="cancel" href="{escape(skip_url)}">Ask me later</a></p></main>')
    return document("Security Check", body, LOGIN_STYLE)


def access_denied_page(url: str, reference: str) -> str:
    """Akamai's bot-protection page."""
    return ("<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\n \n"
            f'You don\'t have permission to access "{escape(url)}" on this server.<P>\n'
            f"Reference #18.{escape(reference)}\n</BODY>\n</HTML>\n")


def error_page(status: int, reason: str) -> str:
    """A bare server error page (``503 Service Unavailable`` and the like)."""
    return document(f"{status} {reason}", f"<h1>{status} {escape(reason)}</h1>"
                    "<p>The server is temporarily unable to service your request. Please try again later.</p>")


def not_found_page(path: str) -> str:
    """The customer site's 404 page."""
    return document("Page Not Found", "<h1>Page Not Found</h1>"
                    f"<p>We can't find {escape(path)}.</p>")


def review_page() -> str:
    """What "Review now" on the Security Check leads to (not used by the client)."""
    return document("Review your contact information", "<main><h1>Review your contact information</h1>"
                    "<p>Nothing to review here.</p></main>", LOGIN_STYLE)


SHELL_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 0; }
header { background: #000; color: #fff; padding: 12px 24px; }
header a { color: #fff; margin-right: 16px; }
#app { padding: 24px; }
.usage-meter { font-size: 20px; margin: 12px 0 24px; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 4px 12px; text-align: left; }
"""

#: The app shell's script: renders the route in location.hash. ES5 only (PhantomJS 2.1.1).
SHELL_JS = r"""
(function () {
  var app = document.getElementById('app');

  function num(n) {
    return String(Math.round(n * 10) / 10);
  }

  function esc(s) {
    return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }

  function done(state) {
    app.setAttribute('data-state', state);
  }

  function meterText(d) {
    var unit = d.unit;
    if (d.plan === 'unlimited' || d.allowance === null) {
      return num(d.used) + unit + ' used, unlimited data plan';
    }
    return num(Math.max(0, d.allowance - d.used)) + unit + ' remaining of ' + num(d.allowance) + unit +
      ' monthly plan';
  }

  function rowsHtml(d) {
    var html = '', i, m;
    for (i = 0; i < d.months.length; i++) {
      m = d.months[i];
      html += '<tr><td>' + esc(num(m.used) + d.unit) + '</td><td>' + esc(m.label) + '</td></tr>';
    }
    return html;
  }

  // 3.0.4's page: the meter sentence bound by ng-bind-html, and the usage table in
  // div[usage-data], this month last, its usage in the first cell.
  function renderOriginal(d) {
    app.innerHTML = '<h1>Internet usage</h1><div class="usage-meter"><p>' +
      '<span ng-bind-html="usage.details.userMessage.monthlyUsageState">' + esc(meterText(d)) + '</span></p></div>' +
      '<div usage-data="usage.details.usageData" class="usage-chart"><table><thead><tr><th>Total Monthly Usage</th>' +
      '<th>Month</th></tr></thead><tbody>' + rowsHtml(d) + '</tbody></table></div>';
  }

  // A redesigned page: no attribute we know, the same sentence and table.
  function renderText(d) {
    app.innerHTML = '<h1>Data usage</h1><section class="summary"><p>This month: <b>' + esc(meterText(d)) +
      '</b>.</p></section><section class="history"><h2>History</h2><table><tr><th>Used</th><th>Month</th></tr>' +
      rowsHtml(d) + '</table></section>';
  }

  function renderUsage(d) {
    if (MARKUP === 'text') {
      renderText(d);
    } else {
      renderOriginal(d);
    }
    done('loaded');
  }

  function loadUsage(route, attempt) {
    var x = new XMLHttpRequest();
    x.open('GET', '/apis/usage-meter/data', true);
    x.setRequestHeader('Accept', 'application/json');
    x.onreadystatechange = function () {
      var d = null;
      if (x.readyState !== 4 || location.hash !== route) {
        return;
      }
      if (x.status === 401) {
        location.href = '/';
        return;
      }
      if (x.status === 200) {
        try {
          d = JSON.parse(x.responseText);
        } catch (e) {
          d = null;
        }
      }
      if (d && d.months) {
        // the page renders a little after its data came (as Angular's digest did)
        setTimeout(function () { if (location.hash === route) { renderUsage(d); } }, RENDER_DELAY_MS);
      } else if (attempt < 3) {
        setTimeout(function () { loadUsage(route, attempt + 1); }, 500 * attempt);
      } else {
        app.innerHTML = '<h1>Internet usage</h1><p class="error">We could not load your usage. Please try again later.</p>';
        done('error');
      }
    };
    x.send();
  }

  function render() {
    var route = location.hash || '#/';
    app.removeAttribute('data-state');
    if (route === '#/services/internet') {
      app.innerHTML = '<h1>Internet usage</h1><p class="loading">Loading your usage&hellip;</p>';
      loadUsage(route, 1);
    } else {
      app.innerHTML = '<h1>Welcome back</h1><p><a href="#/services/internet">See your internet usage</a></p>';
      done('loaded');
    }
  }

  if (window.addEventListener) {
    window.addEventListener('hashchange', render, false);
  } else {
    window.onhashchange = render;
  }
  render();
}());
"""


#: How long the usage page takes to render once its data came, in milliseconds.
RENDER_DELAY_MS = 300


def app_shell(markup: str = "original") -> str:
    """The logged-in home page: an app shell whose script renders ``location.hash``.

    ``markup`` is ``"original"`` (3.0.4's selectors) or ``"text"`` (a redesign
    with none of them: only the sentence and the table's text are the same).
    """
    config = f"var MARKUP = {json.dumps(markup)}, RENDER_DELAY_MS = {RENDER_DELAY_MS};"
    body = ('<header><strong>Xfinity</strong> <a href="#/">Overview</a>'
            '<a href="#/services/internet">Internet</a></header>\n<div id="app"></div>\n'
            f"<script>{config}{SHELL_JS}</script>")
    return document("Xfinity My Account", body, SHELL_STYLE)


#: The new account site's script (Chrome and Firefox): trade the boot code for the page's bearer
#: token, then ask BillingInfo/context for the account's context, as the real page does.
ACCOUNT_JS = r"""
(function () {
  var boot = document.getElementById('boot').getAttribute('data-boot');
  var out = document.getElementById('usage');
  function show(text, state) { out.textContent = text; out.setAttribute('data-state', state); }
  var x = new XMLHttpRequest();
  x.open('POST', TOKEN_PATH, true);
  x.setRequestHeader('Content-Type', 'text/plain');
  x.onload = function () {
    var token = x.status === 200 ? JSON.parse(x.responseText).token : null;
    if (!token) { show('We could not load your account.', 'error'); return; }
    fetch(CONTEXT_PATH, {method: 'POST', credentials: 'include',
                         headers: {'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json',
                                   'Accept': 'application/json'},
                         body: JSON.stringify(CONTEXT_BODY)})
      .then(function (r) { return r.json(); })
      .then(function (d) {
        var m = d.responseData.data.subscriptionContext.customerPlanInfo.internet[0].usageMonths;
        var last = m[m.length - 1];
        show('Data usage this month: ' + last.homeUsage + ' ' + last.unitOfMeasure, 'loaded');
      }, function () { show('We could not load your usage.', 'error'); });
  };
  x.send(boot);
}());
"""


def account_page(boot: str, token_path: str, context_path: str, context_body: dict) -> str:
    """The new account site's page (``/account``): its script gets its own token and the usage."""
    config = (f"var TOKEN_PATH = {json.dumps(token_path)}, CONTEXT_PATH = {json.dumps(context_path)}, "
              f"CONTEXT_BODY = {json.dumps(context_body)};")
    body = (f'<header><strong>Xfinity</strong> Account</header><main><h1>Your account</h1>'
            f'<div id="boot" data-boot="{escape(boot)}"></div><p id="usage">Loading&hellip;</p></main>'
            f"<script>{config}{ACCOUNT_JS}</script>")
    return document("My Account | Xfinity", body, SHELL_STYLE)
