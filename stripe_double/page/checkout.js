// The local Stripe double's payment page. It pays the session through /local/checkout/sessions/<id>/... with a
// test card or bank account and, when the Stripe.js stand-in has embedded it in a portal's page, tells that page
// the payment is done: Stripe.js then sends the browser to the session's return_url, as Stripe's page does.
"use strict";
(() => {
  const page = document.getElementById("checkout");
  const base = `/local/checkout/sessions/${encodeURIComponent(page.dataset.session)}/`;
  const result = document.getElementById("result");
  const embedded = window.parent !== window;

  async function post(action, body) {
    const buttons = page.querySelectorAll("button");
    buttons.forEach((button) => { button.disabled = true; });
    result.className = "";
    result.textContent = "Processing…";
    try {
      const response = await fetch(base + action, {
        method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body),
      });
      show(await response.json());
    } catch (error) {
      result.textContent = `The payment could not be sent: ${error.message}`;
    } finally {
      buttons.forEach((button) => { button.disabled = false; });
    }
  }

  function show(answer) {
    document.getElementById("authenticate").hidden = answer.status !== "requires_action";
    if (answer.error) {
      result.textContent = answer.error.message;  // e.g. "Your card was declined."
      return;
    }
    if (answer.status === "requires_action") {
      result.textContent = "";
      return;
    }
    document.getElementById("state").textContent = `${answer.status} / ${answer.payment_status}`;
    result.className = "done";
    result.textContent = answer.payment_status === "paid"
      ? "Payment succeeded." : "Bank debit submitted: the bank settles it in a few days (here, seconds).";
    completed(answer.redirect_url);
  }

  function completed(redirectUrl) {
    if (embedded) {
      // Only the portal the session returns to may hear where to go.
      const audience = redirectUrl ? new URL(redirectUrl).origin : "*";
      window.parent.postMessage({type: "stripe-double:complete", redirectUrl}, audience);
    } else if (redirectUrl) {
      const link = document.createElement("a");
      link.href = redirectUrl;
      link.textContent = "Return to the portal";
      result.append(" ", link);
    }
  }

  const value = (id) => document.getElementById(id).value;
  document.getElementById("pay").addEventListener("click", () => post("pay", {card: value("card")}));
  document.getElementById("approve").addEventListener("click", () => post("authenticate", {approve: true}));
  document.getElementById("deny").addEventListener("click", () => post("authenticate", {approve: false}));
  document.getElementById("debit")?.addEventListener("click", () => post("pay", {bank_account: value("account")}));

  if (embedded) {  // the embedding page sizes its iframe to the page
    const report = () => window.parent.postMessage(
      {type: "stripe-double:resize", height: document.documentElement.scrollHeight}, "*");
    new ResizeObserver(report).observe(document.body);
  }
})();
