//! The Cognito fake against hand-built requests: the authorization code grant with
//! PKCE, its refusals, CORS, and the token checks of the JWT authorizer.

mod common;

use common::{request, request_with, HttpReply, FORM};
use sentinel_fakes::cognito::pkce_challenge;
use sentinel_fakes::{CognitoConfig, CognitoUser, FakeCognito};
use serde_json::json;

const CLIENT: &str = "4fakeclient5id6";
const CALLBACK: &str = "http://127.0.0.1:8080/";
const ORIGIN: &str = "http://127.0.0.1:8080";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn fake() -> FakeCognito {
    let fake = FakeCognito::start(CognitoConfig::new(CLIENT, CALLBACK));
    fake.sign_in_as(Some(CognitoUser::new("zhang@example.cn", &["ops"])));
    fake
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The page's authorization request, with `change` applied (`""` drops a
/// parameter).
fn authorize_query(verifier: &str, change: &[(&str, &str)]) -> String {
    let challenge = pkce_challenge(verifier);
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", CALLBACK),
        ("scope", "openid email profile"),
        ("state", "s7a7e"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in change {
        pairs.retain(|(n, _)| n != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    query(&pairs)
}

async fn authorize(fake: &FakeCognito, q: &str) -> HttpReply {
    request("GET", &format!("{}?{q}", fake.authorize_url()), None, "")
        .await
        .expect("HTTP exchange")
}

/// The parameters of a redirect's `Location`, after checking where it goes.
fn redirected(r: &HttpReply) -> Vec<(String, String)> {
    assert_eq!(r.status, 302, "{r:?}");
    let location = r.header("location").expect("a Location");
    let q = location
        .strip_prefix(&format!("{CALLBACK}?"))
        .unwrap_or_else(|| panic!("not to the callback: {location}"));
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], k: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// A code for `verifier`.
async fn code(fake: &FakeCognito, verifier: &str) -> String {
    let params = redirected(&authorize(fake, &authorize_query(verifier, &[])).await);
    assert_eq!(param(&params, "state"), Some("s7a7e"));
    param(&params, "code").expect("a code").to_string()
}

async fn exchange(fake: &FakeCognito, form: &[(&str, &str)]) -> HttpReply {
    request_with(
        "POST",
        &fake.token_url(),
        &[("Content-Type", FORM), ("Origin", ORIGIN)],
        &query(form),
    )
    .await
    .expect("HTTP exchange")
}

fn token_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
    ]
}

fn refused(r: &HttpReply, error: &str) {
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["error"], error, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_is_exchanged_once_and_only_with_its_verifier() {
    let fake = fake();

    // A wrong verifier is refused, and the code is used up by trying.
    let c = code(&fake, VERIFIER).await;
    let wrong = "x".repeat(43);
    refused(
        &exchange(&fake, &token_form(&c, &wrong)).await,
        "invalid_grant",
    );
    refused(
        &exchange(&fake, &token_form(&c, VERIFIER)).await,
        "invalid_grant",
    );
    assert_eq!(fake.token_exchanges(), 0);

    // The right one: tokens, for the page's origin, not to be cached.
    let c = code(&fake, VERIFIER).await;
    let r = exchange(&fake, &token_form(&c, VERIFIER)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let tokens = r.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(fake.token_exchanges(), 1);
    let id = fake
        .verify(tokens["id_token"].as_str().unwrap())
        .expect("the fake's own ID token verifies");
    assert_eq!(id["email"], "zhang@example.cn");
    assert_eq!(id["cognito:groups"], json!(["ops"]));
    assert_eq!(id["aud"], CLIENT);
    assert_eq!(id["token_use"], "id");
    assert_eq!(id["iss"], fake.config().issuer());
    assert_eq!(id["cognito:username"], id["sub"]);
    let access = fake
        .verify(tokens["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(access["client_id"], CLIENT);
    assert_eq!(access["token_use"], "access");

    // Once only.
    refused(
        &exchange(&fake, &token_form(&c, VERIFIER)).await,
        "invalid_grant",
    );
    assert_eq!(fake.token_exchanges(), 1);
    let log = fake.requests();
    let descriptions: Vec<&str> = log
        .iter()
        .filter_map(|r| r.description.as_deref())
        .collect();
    assert!(
        descriptions
            .iter()
            .any(|d| d.contains("code_verifier does not match")),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_requests_are_checked_as_cognito_checks_them() {
    let fake = fake();
    for (change, status) in [
        (vec![("client_id", "someoneelse")], 400),
        (vec![("redirect_uri", "http://127.0.0.1:8080/other")], 400),
        (vec![("redirect_uri", "")], 400),
    ] {
        let r = authorize(&fake, &authorize_query(VERIFIER, &change)).await;
        assert_eq!(r.status, status, "{change:?}: {r:?}");
    }
    for (change, error) in [
        (vec![("response_type", "token")], "unauthorized_client"),
        (vec![("response_type", "")], "unsupported_response_type"),
        (
            vec![("scope", "openid aws.cognito.signin.user.admin")],
            "invalid_scope",
        ),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge", "short")], "invalid_request"),
        (vec![("state", "")], "invalid_request"),
    ] {
        let params = redirected(&authorize(&fake, &authorize_query(VERIFIER, &change)).await);
        assert_eq!(param(&params, "error"), Some(error), "{change:?}");
        assert_eq!(param(&params, "code"), None);
    }
    // Nobody signed in: the sign-in form, no code.
    fake.sign_in_as(None);
    let r = authorize(&fake, &authorize_query(VERIFIER, &[])).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("location"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_requests_are_checked_and_refused_with_oauth_errors() {
    let fake = fake();
    let c = code(&fake, VERIFIER).await;
    let mut bad_client = token_form(&c, VERIFIER);
    bad_client[1].1 = "someoneelse";
    let mut refresh = token_form(&c, VERIFIER);
    refresh[0].1 = "refresh_token";
    let mut other_redirect = token_form(&c, VERIFIER);
    other_redirect[3].1 = "http://127.0.0.1:8080/x";
    let no_verifier = &token_form(&c, VERIFIER)[..4];
    let r = request_with(
        "POST",
        &fake.token_url(),
        &[("Content-Type", "application/json")],
        &json!({"grant_type": "authorization_code", "code": c}).to_string(),
    )
    .await
    .unwrap();
    refused(&r, "invalid_request");
    refused(&exchange(&fake, &refresh).await, "unsupported_grant_type");
    refused(&exchange(&fake, &bad_client).await, "invalid_client");
    refused(&exchange(&fake, no_verifier).await, "invalid_request");
    // Those never reached the code; a wrong redirect_uri does, and uses it up.
    refused(&exchange(&fake, &other_redirect).await, "invalid_grant");
    refused(
        &exchange(&fake, &token_form(&c, VERIFIER)).await,
        "invalid_grant",
    );

    // A scripted refusal, then the next goes through.
    fake.refuse_next_exchanges(1);
    let c = code(&fake, VERIFIER).await;
    refused(
        &exchange(&fake, &token_form(&c, VERIFIER)).await,
        "invalid_grant",
    );
    let c = code(&fake, VERIFIER).await;
    assert_eq!(exchange(&fake, &token_form(&c, VERIFIER)).await.status, 200);
    assert_eq!(fake.token_exchanges(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_endpoint_answers_cors_for_the_page_only() {
    let fake = fake();
    let preflight = |origin: &'static str| {
        let url = fake.token_url();
        async move {
            request_with(
                "OPTIONS",
                &url,
                &[
                    ("Origin", origin),
                    ("Access-Control-Request-Method", "POST"),
                    ("Access-Control-Request-Headers", "content-type"),
                ],
                "",
            )
            .await
            .unwrap()
        }
    };
    let r = preflight(ORIGIN).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(r.header("access-control-allow-methods"), Some("POST"));
    let r = preflight("http://evil.example").await;
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_checks_what_the_jwt_authorizer_checks() {
    let fake = fake();
    let c = code(&fake, VERIFIER).await;
    let tokens = exchange(&fake, &token_form(&c, VERIFIER)).await.json();
    let id = tokens["id_token"].as_str().unwrap();
    let claims = fake.verify(id).unwrap();

    // Tampered: another group in the same signature.
    let parts: Vec<&str> = id.split('.').collect();
    let mut forged = claims.clone();
    forged["cognito:groups"] = json!(["ops", "admins"]);
    use base64::Engine as _;
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
    assert_eq!(
        fake.verify(&format!("{}.{body}.{}", parts[0], parts[2])),
        None
    );
    assert_eq!(fake.verify(&format!("{}.{}", parts[0], parts[1])), None);
    assert_eq!(fake.verify("not a token"), None);

    // Signed by the fake, but expired, for another client, or from another pool.
    let now = claims["iat"].as_u64().unwrap();
    for (k, v) in [
        ("exp", json!(now - 1)),
        ("aud", json!("anotherclient")),
        (
            "iss",
            json!("https://cognito-idp.us-east-1.amazonaws.com/other"),
        ),
        ("iat", json!(now + 3600)),
    ] {
        let mut c = claims.clone();
        c[k] = v;
        assert_eq!(fake.verify(&fake.sign(&c)), None, "{k}");
    }
    assert!(fake.verify(&fake.sign(&claims)).is_some());

    // Another fake's tokens are not this one's.
    let other = FakeCognito::start(CognitoConfig::new(CLIENT, CALLBACK));
    assert_eq!(other.verify(id), None);
}
