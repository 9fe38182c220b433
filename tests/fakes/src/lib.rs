//! Faithful fake servers of the two Chinese tracking aggregators, Kdniao (快递鸟)
//! and Kuaidi100 (快递100), on 127.0.0.1.
//!
//! # Why
//! The product's carrier clients are tested against these fakes, so the fakes are
//! the yardstick: they are written from the protocol notes
//! (`shared/protocols/carriers.md`, §1, §2 and §7) and deliberately share no code
//! with the product (not even the carrier table). They verify each request the way
//! the real service does — form encoding, required fields, credentials, the exact
//! signature recomputed over the decoded form value — and answer with the real
//! reply shapes, so a client that passes here has its wire format right.
//!
//! # Shape
//! - [`Scenario`] / [`Parcel`] / [`Event`]: scripted timelines; one scenario can
//!   feed both fakes (an event carries both aggregators' codes).
//! - [`FakeKdniao`] and [`FakeKuaidi100`]: handles of running servers (random
//!   port, own thread, stop on drop). At run time a test can change the timelines,
//!   add latency, impose a QPS limit, and script faults ([`Behaviour`]) either
//!   one-shot (`push_behaviour`: e.g. two HTTP 503 then normal, for retry tests) or
//!   persistent (`set_behaviour`). Every request is logged ([`Logged`]: arrival
//!   instant, path, decoded form, request type, signature validity, reply), and
//!   subscriptions are recorded ([`Subscription`]).
//! - Push builders ([`kdniao_push_form`], [`kuaidi100_push_form`]) produce the
//!   signed bodies the aggregators POST to a merchant's callback, for testing the
//!   product's receivers.
//! - [`demo_scenario`] and the `sentinel-fakes` binary: a ready demo world.
//!
//! Beside them: the chat robots ([`chat`]), the Cognito hosted sign-in of the
//! console ([`cognito`]: the authorization code grant with PKCE, and the JWT
//! checks of the HTTP API's authorizer) and, with the `browser` feature, the
//! headless chromium the console's browser tests drive (`browser`).
//!
//! The exact replies (including the fakes' choices where the vendors document
//! nothing, such as rate limiting) are tabulated in [`kdniao`] and [`kuaidi100`].
//!
//! ```no_run
//! use sentinel_fakes::{Behaviour, Event, FakeKdniao, KdniaoConfig, Parcel, Scenario, Target};
//!
//! let fake = FakeKdniao::start(KdniaoConfig {
//!     ebusiness_id: "test1234567".into(),
//!     app_key: "key".into(),
//!     scenario: Scenario::new().with(
//!         Parcel::new("YTO", "YT1").event(Event::new("2024-05-01 09:12:00", "已揽收").codes("1", "1")),
//!     ),
//! });
//! fake.push_behaviour(Target::Any, Behaviour::HttpStatus(503));
//! let url = fake.query_url(); // POST signed forms here
//! # drop(url);
//! ```

#[cfg(feature = "browser")]
pub mod browser;
pub mod chat;
pub mod cognito;
pub mod demo;
pub mod kdniao;
pub mod kuaidi100;
pub mod model;
mod server;
pub mod sign;

pub use cognito::{CognitoConfig, CognitoRequest, CognitoUser, FakeCognito};
pub use demo::{
    demo_csv, demo_parcels, demo_scenario, DemoParcel, DEMO_KDNIAO_APP_KEY,
    DEMO_KDNIAO_EBUSINESS_ID, DEMO_KUAIDI100_CUSTOMER, DEMO_KUAIDI100_KEY,
};
pub use kdniao::{
    kdniao_form, kdniao_push_form, kdniao_push_form_at, kdniao_push_request_data,
    kdniao_push_request_data_at, kdniao_render, FakeKdniao, KdniaoConfig,
};
pub use kuaidi100::{
    kuaidi100_push_form, kuaidi100_push_param, kuaidi100_query_form, kuaidi100_render,
    FakeKuaidi100, Kuaidi100Config,
};
pub use model::{
    kdniao_action_of, kdniao_state_of, kuaidi100_code_of, kuaidi100_com, kuaidi100_family,
    kuaidi100_state_name, shipper_name, shipper_of_com, Behaviour, Event, Logged, Parcel, Scenario,
    Subscription, Target, CARRIERS,
};
pub use sign::{kdniao_sign, kuaidi100_push_sign, kuaidi100_sign, md5_hex};
