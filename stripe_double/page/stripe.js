// A stand-in for Stripe.js, served by the local Stripe double. It implements the part of Stripe.js that embedded
// Checkout uses, with the same names and behaviour, so a portal page runs unchanged against it or against
// Stripe.js (only the script's URL and the publishable key differ):
//
//   const stripe = Stripe(publishableKey);
//   const checkout = await stripe.initEmbeddedCheckout({fetchClientSecret, onComplete});
//   checkout.mount("#checkout");   // ... checkout.unmount(), checkout.destroy()
//
// (Stripe.js's dahlia release and later call initEmbeddedCheckout createEmbeddedCheckoutPage, with the same
// options and result: both names are here.) The iframe shows the double's payment page for the session named by
// the client secret. When the payment completes, the browser goes to the session's return_url; a session without
// one (redirect_on_completion "never") calls onComplete instead. Like Stripe.js, one embedded Checkout at a time.
"use strict";
(() => {
  const origin = new URL(document.currentScript.src).origin;
  let current = null;  // the page's embedded Checkout, until destroyed

  class IntegrationError extends Error {
    constructor(message) {
      super(message);
      this.name = "IntegrationError";
    }
  }

  function sessionIdOf(clientSecret) {
    // A Checkout Session's client secret is "<session id>_secret_<random>".
    const found = /^(cs_(?:test|live)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$/.exec(clientSecret);
    if (!found) {
      throw new IntegrationError("Invalid value for initEmbeddedCheckout: fetchClientSecret should resolve to a "
        + "Checkout Session's client_secret.");
    }
    return found[1];
  }

  class EmbeddedCheckout {
    constructor(sessionId, onComplete) {
      this.sessionId = sessionId;
      this.onComplete = onComplete;
      this.iframe = null;
      this.destroyed = false;
      this.listener = (event) => this.receive(event);
    }

    mount(target) {
      if (this.destroyed) throw new IntegrationError("This embedded Checkout has been destroyed.");
      if (this.iframe) throw new IntegrationError("This embedded Checkout is already mounted.");
      const element = typeof target === "string" ? document.querySelector(target) : target;
      if (!(element instanceof Element)) {
        throw new IntegrationError(`Invalid value for mount: ${target} is not a DOM element or a selector.`);
      }
      this.iframe = Object.assign(document.createElement("iframe"), {
        src: `${origin}/checkout/${encodeURIComponent(this.sessionId)}`,
        title: "Embedded Checkout",
        name: "embedded-checkout",
      });
      this.iframe.setAttribute("allow", "payment");
      this.iframe.style.cssText = "width:100%;min-height:320px;border:0;display:block";
      window.addEventListener("message", this.listener);
      element.appendChild(this.iframe);
    }

    unmount() {
      window.removeEventListener("message", this.listener);
      this.iframe?.remove();
      this.iframe = null;
    }

    destroy() {
      this.unmount();
      this.destroyed = true;
      if (current === this) current = null;
    }

    receive(event) {
      if (!this.iframe || event.source !== this.iframe.contentWindow || event.origin !== origin) return;
      const message = event.data || {};
      if (message.type === "stripe-double:resize") {
        this.iframe.style.height = `${Math.ceil(message.height)}px`;
      } else if (message.type === "stripe-double:complete") {
        if (message.redirectUrl) window.location.assign(message.redirectUrl);
        else if (this.onComplete) this.onComplete();
      }
    }
  }

  window.Stripe = function Stripe(publishableKey) {
    if (typeof publishableKey !== "string" || !/^pk_(test|live)_[A-Za-z0-9_]+$/.test(publishableKey)) {
      throw new IntegrationError("Invalid API Key provided: Stripe() takes the publishable key (pk_test_... or "
        + "pk_live_...), never a secret key.");
    }

    async function initEmbeddedCheckout({fetchClientSecret, onComplete} = {}) {
      if (typeof fetchClientSecret !== "function") {
        throw new IntegrationError("initEmbeddedCheckout: fetchClientSecret must be a function returning a Promise "
          + "that resolves with the Checkout Session's client secret.");
      }
      if (current) throw new IntegrationError("You cannot have multiple embedded Checkout objects.");
      current = "loading";
      try {
        current = new EmbeddedCheckout(sessionIdOf(await fetchClientSecret()), onComplete);
        return current;
      } catch (error) {
        current = null;
        throw error;
      }
    }

    return {initEmbeddedCheckout, createEmbeddedCheckoutPage: initEmbeddedCheckout};
  };
})();
