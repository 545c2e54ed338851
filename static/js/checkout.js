// The pay step in Stripe mode: Stripe's Payment Element in the page, confirmed with Stripe.js.
// Stripe sends the buyer back to the order page (return_url), which waits for the webhook.
(function () {
  "use strict";
  const form = document.getElementById("payment-form");
  if (!form || typeof window.Stripe !== "function") return;
  const stripe = window.Stripe(form.dataset.stripeKey);
  const elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  const mount = form.querySelector("[data-payment-element]");
  mount.textContent = "";
  elements.create("payment").mount(mount);
  const error = form.querySelector("[data-payment-error]");
  const button = form.querySelector("[data-pay-button]");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    // On success Stripe redirects to return_url; it resolves here only with an error.
    const result = await stripe.confirmPayment({
      elements,
      confirmParams: { return_url: form.dataset.returnUrl },
    });
    if (result.error) {
      error.textContent = result.error.message || "The payment did not go through.";
      button.disabled = false;
    }
  });
})();
