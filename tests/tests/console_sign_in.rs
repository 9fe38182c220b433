//! The console page's sign-in as it runs on AWS, in a real headless chromium.
//!
//! - The page, its script and `console-config.json` are served by the real
//!   `sentinel-api` binary, run through the local Lambda Runtime API, with the
//!   table on the AWS emulator.
//! - A stand-in for the HTTP API (an axum server here) turns each browser request
//!   into an API Gateway HTTP API v2 event, routed as the template routes it: the
//!   page routes with no authorizer, `GET`/`POST /api/{proxy+}` behind the JWT
//!   authorizer — a bearer token the fake Cognito verifies, else 401 without
//!   invoking the function — whose claims go into
//!   `requestContext.authorizer.jwt.claims` as API Gateway writes them (every
//!   value a string, a list as `[a b]`); any other path is API Gateway's 404.
//! - Sign-in goes to the fake Cognito hosted sign-in (`sentinel_fakes::cognito`),
//!   which checks the authorization code grant with PKCE as Cognito does.
//!
//! `./infra/test.sh` builds the binaries, starts the emulator and installs
//! chromium; by hand: `cargo build -p sentinel-api-fn --bin sentinel-api`, then
//! `eval "$(./infra/emulator.sh start)"` and this test in the same shell.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use base64::Engine as _;
use chrono::Utc;
use serde_json::{json, Map, Value};

use sentinel_aws::dynamo::DynamoStore;
use sentinel_e2e::runtime_api::{Bootstrap, FunctionConfig, Invocation, RuntimeApi};
use sentinel_e2e::{emulator, function_binary as binary, unique};
use sentinel_fakes::browser::{browser, chromedriver, wait_for, wait_text, Client, Locator};
use sentinel_fakes::{
    kdniao_push_form, kdniao_render, CognitoConfig, CognitoUser, Event, FakeCognito, Parcel,
    DEMO_KDNIAO_APP_KEY, DEMO_KDNIAO_EBUSINESS_ID,
};

const WAIT: Duration = Duration::from_secs(60);
const CLIENT_ID: &str = "4sentinel5console6client";
const OPS: &str = "ops-zhang@example.cn";
/// (Not ASCII: the header decodes the token's UTF-8.)
const VIEWER: &str = "王五@example.cn";
/// The refused parcel every session finds in the queue.
const CARRIER: &str = "ZTO";
const NUMBER: &str = "75312345678901";

// ------------------------------------------------------------ the HTTP API stand-in

/// How the template routes a request.
enum Route {
    /// A page route (no authorizer): its route key.
    Page(&'static str),
    /// `/api/{proxy+}` behind the ConsoleJwt authorizer: the route key and `proxy`.
    Jwt(&'static str, String),
}

fn route(method: &Method, path: &str) -> Option<Route> {
    let page = |key| Some(Route::Page(key));
    match (method.as_str(), path) {
        ("GET", "/") => page("GET /"),
        ("GET", "/console.js") => page("GET /console.js"),
        ("GET", "/console.css") => page("GET /console.css"),
        ("GET", "/console-config.json") => page("GET /console-config.json"),
        (m @ ("GET" | "POST"), p) => {
            let proxy = p.strip_prefix("/api/").filter(|r| !r.is_empty())?;
            let key = if m == "GET" {
                "GET /api/{proxy+}"
            } else {
                "POST /api/{proxy+}"
            };
            Some(Route::Jwt(key, proxy.to_string()))
        }
        _ => None,
    }
}

/// A JWT's claims as the HTTP API's authorizer hands them to the integration:
/// every value a string; a list as its items in brackets, space-separated.
fn authorizer_claims(claims: &Value) -> Value {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let out: Map<String, Value> = claims
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let s = match v {
                Value::Array(items) => {
                    format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(" "))
                }
                other => text(other),
            };
            (k.clone(), Value::String(s))
        })
        .collect();
    Value::Object(out)
}

/// An HTTP API payload 2.0 event.
fn http_event(
    route_key: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    authorizer: Option<Value>,
    proxy: Option<&str>,
) -> Value {
    let mut h = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).to_string();
        if name == header::COOKIE {
            cookies.extend(v.split(';').map(|c| json!(c.trim())));
            continue;
        }
        match h.get_mut(name.as_str()) {
            Some(Value::String(prev)) => {
                prev.push(',');
                prev.push_str(&v);
            }
            _ => {
                h.insert(name.as_str().to_string(), json!(v));
            }
        }
    }
    let header = |k: &str| h.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let query = uri.query().unwrap_or("");
    let mut params = Map::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match params.get_mut(k.as_ref()) {
            Some(Value::String(prev)) => {
                prev.push(',');
                prev.push_str(&v);
            }
            _ => {
                params.insert(k.to_string(), json!(v));
            }
        }
    }
    let now = Utc::now();
    let mut context = json!({
        "accountId": "000000000000",
        "apiId": "console",
        "domainName": header("host"),
        "domainPrefix": "console",
        "http": {"method": method.as_str(), "path": uri.path(), "protocol": "HTTP/1.1",
                 "sourceIp": "127.0.0.1", "userAgent": header("user-agent")},
        "requestId": unique("req"),
        "routeKey": route_key,
        "stage": "$default",
        "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
        "timeEpoch": now.timestamp_millis(),
    });
    if let Some(claims) = authorizer {
        context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": query,
        "headers": h,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !params.is_empty() {
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some(p) = proxy {
        event["pathParameters"] = json!({ "proxy": p });
    }
    if !body.is_empty() {
        // Text as it is; anything else (a form, say) base64-encoded.
        let text = event["headers"]["content-type"]
            .as_str()
            .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/"));
        match std::str::from_utf8(body) {
            Ok(s) if text => event["body"] = json!(s),
            _ => {
                event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// The function's HTTP answer as the browser gets it.
fn http_response(answer: &Value) -> Response {
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = answer["body"].as_str().unwrap_or("");
    let bytes = if answer["isBase64Encoded"].as_bool().unwrap_or(false) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    for (k, v) in answer["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            v.as_str().map(HeaderValue::from_str),
        ) {
            r.headers_mut().insert(name, value);
        }
    }
    r
}

fn message(status: StatusCode, text: &str) -> Response {
    let mut r = Response::new(Body::from(json!({ "message": text }).to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The HTTP API in front of the function.
struct Gateway {
    runtime: RuntimeApi,
    cognito: Arc<FakeCognito>,
    /// `/api/` requests the authorizer refused.
    unauthorized: AtomicUsize,
    /// Requests handed to the function.
    invocations: AtomicUsize,
}

impl Gateway {
    async fn invoke(&self, event: Value) -> Value {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        match self.runtime.invoke_async(event, WAIT).await {
            Ok(Invocation::Ok(answer)) => answer,
            other => panic!("the api function failed: {other:?}"),
        }
    }
}

async fn gateway(
    State(g): State<Arc<Gateway>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (key, claims, proxy) = match route(&method, uri.path()) {
        None => return message(StatusCode::NOT_FOUND, "Not Found"),
        Some(Route::Page(key)) => (key, None, None),
        Some(Route::Jwt(key, proxy)) => {
            let token = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                        .unwrap_or(v)
                        .trim()
                });
            match token.and_then(|t| g.cognito.verify(t)) {
                Some(claims) => (key, Some(authorizer_claims(&claims)), Some(proxy)),
                None => {
                    g.unauthorized.fetch_add(1, Ordering::Relaxed);
                    let mut r = message(StatusCode::UNAUTHORIZED, "Unauthorized");
                    r.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    return r;
                }
            }
        }
    };
    let event = http_event(
        key,
        &method,
        &uri,
        &headers,
        &body,
        claims,
        proxy.as_deref(),
    );
    http_response(&g.invoke(event).await)
}

// ------------------------------------------------------------------ the browser

/// The page opened in a new session: signed in as `who` (the header says so) and
/// showing the refused parcel in the queue.
async fn signed_in(driver: &str, url: &str, who: &str) -> Client {
    let b = browser(driver).await;
    b.goto(url).await.unwrap();
    wait_text(&b, "#who", who).await;
    wait_for(
        &b,
        &format!("#queue-table tr[data-parcel='{CARRIER}/{NUMBER}']"),
    )
    .await;
    b
}

/// The parcel's `problems` as the function answers an ops caller.
async fn problems(g: &Gateway, cognito: &FakeCognito) -> Value {
    let uri: Uri = format!("/api/shipments/{CARRIER}/{NUMBER}")
        .parse()
        .unwrap();
    let claims = json!({
        "sub": "x", "email": "reader@example.cn", "cognito:groups": ["ops"],
        "iss": cognito.config().issuer(), "aud": CLIENT_ID, "token_use": "id",
    });
    let event = http_event(
        "GET /api/{proxy+}",
        &Method::GET,
        &uri,
        &HeaderMap::new(),
        b"",
        Some(authorizer_claims(&claims)),
        Some(&format!("shipments/{CARRIER}/{NUMBER}")),
    );
    let answer = g.invoke(event).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    body["problems"].clone()
}

fn china(at: chrono::DateTime<Utc>) -> String {
    (at + chrono::Duration::hours(8))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn people_sign_in_through_cognito_and_act_as_their_group_allows() {
    let sdk = emulator().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let table = unique("console");
    DynamoStore::create_table(&dynamo, &table).await.unwrap();
    let topic = sns
        .create_topic()
        .name(unique("alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();

    // The HTTP API's address is the page's, the app client's callback URL.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let page = format!("http://{}/", listener.local_addr().unwrap());
    let cognito = Arc::new(FakeCognito::start(CognitoConfig::new(CLIENT_ID, &page)));

    let runtime = RuntimeApi::start_with(FunctionConfig::named("api"));
    let env: Vec<(String, String)> = [
        ("TABLE_NAME", table.clone()),
        ("TOPIC_ARN", topic),
        ("KDNIAO_EBUSINESS_ID", DEMO_KDNIAO_EBUSINESS_ID.into()),
        ("KDNIAO_API_KEY", DEMO_KDNIAO_APP_KEY.into()),
        ("CONSOLE_AUTH_DOMAIN", cognito.base_url()),
        ("CONSOLE_CLIENT_ID", CLIENT_ID.into()),
        ("CONSOLE_URL", page.clone()),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut api = Bootstrap::spawn(&binary("sentinel-api"), &runtime, &env);
    api.wait_ready(WAIT)
        .unwrap_or_else(|e| panic!("the api function did not start: {e}"));
    let g = Arc::new(Gateway {
        runtime,
        cognito: cognito.clone(),
        unauthorized: AtomicUsize::new(0),
        invocations: AtomicUsize::new(0),
    });

    // A parcel registered by the order system (IAM), then refused by the
    // recipient (Kdniao's signed push): an open `refused` problem.
    let now = Utc::now();
    let mut iam = HeaderMap::new();
    iam.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut register = http_event(
        "POST /shipments",
        &Method::POST,
        &"/shipments".parse().unwrap(),
        &iam,
        json!({"carrier": CARRIER, "tracking_number": NUMBER, "order_id": "DD-1",
               "phone": "13812345678"})
        .to_string()
        .as_bytes(),
        None,
        None,
    );
    register["requestContext"]["authorizer"] = json!({"iam": {
        "accessKey": "AKIAIOSFODNN7EXAMPLE", "accountId": "000000000000",
        "callerId": "AIDACKCEVSQ6C2EXAMPLE", "cognitoIdentity": null, "principalOrgId": null,
        "userArn": "arn:aws:iam::000000000000:user/order-system", "userId": "AIDACKCEVSQ6C2EXAMPLE"}});
    let answer = g.invoke(register).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let parcel = Parcel::new(CARRIER, NUMBER)
        .event(
            Event::new(
                &china(now - chrono::Duration::hours(30)),
                "【杭州市】快件已揽收",
            )
            .codes("1", "1"),
        )
        .event(
            Event::new(
                &china(now - chrono::Duration::hours(2)),
                "快件已被收件人拒收",
            )
            .codes("404", "14"),
        );
    let push = kdniao_push_form(
        DEMO_KDNIAO_EBUSINESS_ID,
        DEMO_KDNIAO_APP_KEY,
        "102",
        &[kdniao_render(&parcel, "102")],
    );
    let mut form = HeaderMap::new();
    form.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let answer = g
        .invoke(http_event(
            "POST /callbacks/kdniao",
            &Method::POST,
            &"/callbacks/kdniao".parse().unwrap(),
            &form,
            push.as_bytes(),
            None,
            None,
        ))
        .await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let open = problems(&g, &cognito).await;
    assert_eq!(open[0]["rule"], "refused", "{open}");
    assert_eq!(open[0]["state"], "open", "{open}");

    let app = Router::new().fallback(gateway).with_state(g.clone());
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (_driver, driver) = chromedriver().await;

    // --- A viewer: sent to the hosted sign-in, back with a code, traded once
    // for tokens with the PKCE verifier; reads everything, may not act.
    cognito.sign_in_as(Some(CognitoUser::new(VIEWER, &["viewer"])));
    let b = signed_in(&driver, &page, VIEWER).await;
    assert_eq!(cognito.token_exchanges(), 1);
    let log = cognito.requests();
    let authorize = log
        .iter()
        .find(|r| r.path == "/oauth2/authorize")
        .expect("the page went to the hosted sign-in");
    assert_eq!((authorize.status, authorize.error.as_deref()), (302, None));
    let token = log
        .iter()
        .find(|r| r.path == "/oauth2/token" && r.method == "POST")
        .expect("the page traded the code");
    assert_eq!(token.status, 200, "{token:?}");
    assert_eq!(
        token.origin.as_deref(),
        Some(page.trim_end_matches('/')),
        "a cross-origin fetch from the page"
    );
    // The code and state are gone from the address.
    assert_eq!(b.current_url().await.unwrap().as_str(), page);
    let figures = wait_text(&b, "#health-figures", "包裹总数").await;
    assert!(figures.contains('1'), "{figures}");
    assert_eq!(
        g.unauthorized.load(Ordering::Relaxed),
        0,
        "every API call carried the token"
    );
    // Without the token the HTTP API refuses before the function.
    let invoked = g.invocations.load(Ordering::Relaxed);
    let status = b
        .execute("return fetch('api/summary').then((r) => r.status);", vec![])
        .await
        .unwrap();
    assert_eq!(status, json!(401));
    assert_eq!(g.unauthorized.load(Ordering::Relaxed), 1);
    assert_eq!(g.invocations.load(Ordering::Relaxed), invoked);

    b.find(Locator::Css(&format!(
        "tr[data-parcel='{CARRIER}/{NUMBER}'] button[data-action=ack]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_text(&b, "#message", "read only").await;
    assert_eq!(problems(&g, &cognito).await[0]["state"], "open");

    // A token the authorizer refuses (here: not the pool's signature): the page
    // signs in again, once, and goes on — also when two calls are refused at
    // the same moment (the page's periodic refresh asks for the queue and the
    // summary together).
    let authorizations = |c: &FakeCognito| {
        c.requests()
            .iter()
            .filter(|r| r.path == "/oauth2/authorize")
            .count()
    };
    let refused_before = g.unauthorized.load(Ordering::Relaxed);
    let authorized_before = authorizations(&cognito);
    b.execute(
        "sessionStorage.setItem('sentinel.id_token', \
         sessionStorage.getItem('sentinel.id_token') + 'x'); refresh();",
        vec![],
    )
    .await
    .unwrap();
    for _ in 0..200 {
        if cognito.token_exchanges() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_text(&b, "#who", VIEWER).await;
    wait_for(
        &b,
        &format!("#queue-table tr[data-parcel='{CARRIER}/{NUMBER}']"),
    )
    .await;
    assert_eq!(cognito.token_exchanges(), 2);
    assert!(g.unauthorized.load(Ordering::Relaxed) > refused_before);
    assert_eq!(
        authorizations(&cognito) - authorized_before,
        1,
        "one sign-in for the calls refused together"
    );
    let shown = b.find(Locator::Css("#message")).await.unwrap();
    assert!(
        !shown.text().await.unwrap().contains("登录失败"),
        "the second sign-in failed"
    );
    b.close().await.unwrap();

    // --- A sign-in the token endpoint refuses: the page says so and stays (no
    // loop back to the hosted sign-in).
    cognito.refuse_next_exchanges(1);
    let before = authorizations(&cognito);
    let b = browser(&driver).await;
    b.goto(&page).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        authorizations(&cognito) - before,
        1,
        "the page went back to the hosted sign-in after a refused exchange"
    );
    wait_text(&b, "#message", "登录失败").await;
    assert_eq!(cognito.token_exchanges(), 2);
    // Nor when the hosted sign-in answers with an error instead of a code.
    b.goto(&format!("{page}?error=access_denied&state=s1"))
        .await
        .unwrap();
    wait_text(&b, "#message", "access_denied").await;
    assert_eq!(b.current_url().await.unwrap().as_str(), page);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(authorizations(&cognito) - before, 1);
    b.close().await.unwrap();

    // --- Ops, from an alert's link to the parcel, in English: the page's own
    // query survives the round trip through the sign-in. Ops act, under the
    // name in the token.
    cognito.sign_in_as(Some(CognitoUser::new(OPS, &["ops", "viewer"])));
    let link = format!("{page}?lang=en&parcel={NUMBER}&carrier={CARRIER}");
    let b = signed_in(&driver, &link, OPS).await;
    assert_eq!(b.current_url().await.unwrap().as_str(), link);
    wait_text(&b, "#who", "Signed in as").await;
    wait_text(&b, "#parcel h3", NUMBER).await;
    wait_text(&b, "#parcel", "Open").await;
    b.find(Locator::Css(&format!(
        "tr[data-parcel='{CARRIER}/{NUMBER}'] button[data-action=ack]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    // The parcel shown says who took it (its lookup clears the message), and it
    // leaves the open queue.
    wait_text(&b, "#parcel", "Acknowledged").await;
    wait_text(&b, "#parcel", OPS).await;
    for _ in 0..100 {
        let rows = b
            .find_all(Locator::Css("#queue-table tbody tr"))
            .await
            .unwrap();
        if rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let empty = b.find(Locator::Css("#queue-empty")).await.unwrap();
    assert!(
        empty.is_displayed().await.unwrap(),
        "the open queue is empty"
    );
    let after = problems(&g, &cognito).await;
    assert_eq!(after[0]["state"], "acknowledged", "{after}");
    assert_eq!(after[0]["by"], OPS, "{after}");
    b.close().await.unwrap();

    assert_eq!(cognito.token_exchanges(), 3);
    let failed: Vec<_> = cognito
        .requests()
        .into_iter()
        .filter(|r| r.error.is_some() && r.description.as_deref() != Some("refused (scripted)"))
        .collect();
    assert!(
        failed.is_empty(),
        "the page's requests were refused: {failed:?}"
    );
    drop(api);
}
