// Signing in with Firebase Authentication, without its SDK: the Identity Toolkit REST call that the Firebase JS
// SDK's signInWithEmailAndPassword makes. The ID token it returns is what the billing API takes as
// `Authorization: Bearer <token>`. A portal on the Firebase SDK keeps using the SDK (it also refreshes the token
// before its hour is up); only where the call goes differs:
//   production             https://identitytoolkit.googleapis.com
//   Firebase Auth emulator http://127.0.0.1:9099/identitytoolkit.googleapis.com
//   `make dev`             the portal server's stand-in for the emulator (config.js says which)
const config = window.PORTAL_CONFIG;
const TOKEN = "portal.idToken";
const EMAIL = "portal.email";

export async function signIn(email, password) {
  const url = `${config.identityToolkitUrl}/v1/accounts:signInWithPassword?key=${encodeURIComponent(config.firebaseApiKey)}`;
  const response = await fetch(url, {
    method: "POST",
    headers: {"content-type": "application/json"},
    body: JSON.stringify({email, password, returnSecureToken: true}),
  });
  const answer = await response.json();
  if (!response.ok) {
    const reason = answer.error?.message ?? `HTTP ${response.status}`;
    throw new Error(reason.startsWith("INVALID_") || reason === "EMAIL_NOT_FOUND"
      ? "Wrong email or password." : `Sign-in failed: ${reason}`);
  }
  // sessionStorage: gone when the tab closes, kept across the redirect back from checkout.
  sessionStorage.setItem(TOKEN, answer.idToken);
  sessionStorage.setItem(EMAIL, answer.email);
}

export function idToken() {
  return sessionStorage.getItem(TOKEN);
}

export function signedInEmail() {
  return sessionStorage.getItem(EMAIL);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(EMAIL);
}

// Sends a visitor without a token (or with one the API refused) to sign in, and back here afterwards.
export function goToSignIn() {
  signOut();
  window.location.replace(`/?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
}
