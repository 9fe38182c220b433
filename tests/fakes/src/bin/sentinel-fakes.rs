//! `sentinel-fakes`: both fake aggregators with the demo scenario, for trying the
//! product locally without carrier accounts.
//!
//! ```text
//! sentinel-fakes [--kdniao-port P] [--kuaidi100-port Q] [--csv FILE]
//! ```
//! Ports default to random free ones. Prints the URLs, `export` lines for the
//! product's environment (`*_API_URL` = the query endpoints, `*_SUBSCRIBE_URL` =
//! the subscription endpoints) and the demo parcels as CSV, then serves until
//! Ctrl-C. Demo credentials: Kdniao
//! EBusinessID `test1234567` / AppKey `fake-kdniao-key`; Kuaidi100 customer
//! `FAKECUSTOMER` / key `fake-kuaidi100-key`.

use std::net::SocketAddr;
use std::process::ExitCode;

use sentinel_fakes::{
    demo_csv, demo_scenario, FakeKdniao, FakeKuaidi100, KdniaoConfig, Kuaidi100Config,
    DEMO_KDNIAO_APP_KEY, DEMO_KDNIAO_EBUSINESS_ID, DEMO_KUAIDI100_CUSTOMER, DEMO_KUAIDI100_KEY,
};

const USAGE: &str = "usage: sentinel-fakes [--kdniao-port P] [--kuaidi100-port Q] [--csv FILE]";

struct Args {
    kdniao_port: u16,
    kuaidi100_port: u16,
    csv: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        kdniao_port: 0,
        kuaidi100_port: 0,
        csv: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.clone(), None),
        };
        if name == "-h" || name == "--help" {
            return Err(String::new());
        }
        if !["--kdniao-port", "--kuaidi100-port", "--csv"].contains(&name.as_str()) {
            return Err(format!("unknown argument {name:?}"));
        }
        let value = inline
            .or_else(|| it.next())
            .ok_or_else(|| format!("{name} needs a value"))?;
        let port = || {
            value
                .parse::<u16>()
                .map_err(|_| format!("{name}: not a port: {value:?}"))
        };
        match name.as_str() {
            "--kdniao-port" => args.kdniao_port = port()?,
            "--kuaidi100-port" => args.kuaidi100_port = port()?,
            "--csv" => args.csv = Some(value),
            _ => return Err(format!("unknown argument {name:?}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sentinel-fakes: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let now = chrono::Utc::now();
    let scenario = demo_scenario(now);
    let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let kdniao = match FakeKdniao::start_on(
        local(args.kdniao_port),
        KdniaoConfig {
            ebusiness_id: DEMO_KDNIAO_EBUSINESS_ID.into(),
            app_key: DEMO_KDNIAO_APP_KEY.into(),
            scenario: scenario.clone(),
        },
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "sentinel-fakes: Kdniao fake on port {}: {e}",
                args.kdniao_port
            );
            return ExitCode::FAILURE;
        }
    };
    let kuaidi100 = match FakeKuaidi100::start_on(
        local(args.kuaidi100_port),
        Kuaidi100Config {
            customer: DEMO_KUAIDI100_CUSTOMER.into(),
            key: DEMO_KUAIDI100_KEY.into(),
            scenario,
        },
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "sentinel-fakes: Kuaidi100 fake on port {}: {e}",
                args.kuaidi100_port
            );
            return ExitCode::FAILURE;
        }
    };
    let csv = demo_csv(now);
    if let Some(path) = &args.csv {
        if let Err(e) = std::fs::write(path, &csv) {
            eprintln!("sentinel-fakes: writing {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!("# fake Kdniao:    query/2002 {}", kdniao.query_url());
    println!("#                 subscribe  {}", kdniao.subscribe_url());
    println!("# fake Kuaidi100: query      {}", kuaidi100.query_url());
    println!("#                 subscribe  {}", kuaidi100.subscribe_url());
    println!("export KDNIAO_API_URL={}", kdniao.query_url());
    println!("export KDNIAO_SUBSCRIBE_URL={}", kdniao.subscribe_url());
    println!("export KDNIAO_EBUSINESS_ID={DEMO_KDNIAO_EBUSINESS_ID}");
    println!("export KDNIAO_API_KEY={DEMO_KDNIAO_APP_KEY}");
    println!("export KUAIDI100_API_URL={}", kuaidi100.query_url());
    println!(
        "export KUAIDI100_SUBSCRIBE_URL={}",
        kuaidi100.subscribe_url()
    );
    println!("export KUAIDI100_CUSTOMER={DEMO_KUAIDI100_CUSTOMER}");
    println!("export KUAIDI100_KEY={DEMO_KUAIDI100_KEY}");
    println!("# demo parcels (SF needs phone last 4 1234):");
    print!("{csv}");
    println!("# serving until Ctrl-C");

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sentinel-fakes: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = runtime.block_on(tokio::signal::ctrl_c()) {
        eprintln!("sentinel-fakes: waiting for Ctrl-C: {e}");
    }
    kdniao.shutdown();
    kuaidi100.shutdown();
    ExitCode::SUCCESS
}
