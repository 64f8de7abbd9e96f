//! Differential test against ECMWF's pyaviso 1.0.1: for the same parameters and schema, `aviso key`
//! prints the same key, or both refuse. `scripts/test.sh` installs pyaviso from PyPI and sets
//! `PYAVISO_BIN`; without it the test is skipped locally and fails under CI.

use crate::common::pyaviso;

use std::path::Path;
use std::process::Command;

/// (exit code, stdout) of `program key <parameters>` with `home` as HOME.
fn key(program: &Path, home: &Path, parameters: &str, test_mode: bool) -> (Option<i32>, String) {
    let mut command = Command::new(program);
    command.arg("key").arg(parameters).env("HOME", home);
    if test_mode {
        command.arg("--test");
    }
    for (name, _) in std::env::vars() {
        if name.starts_with("AVISO_") {
            command.env_remove(name);
        }
    }
    let out = command.output().expect("program runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn compare(home: &Path, cases: &[&str]) {
    let Some(pyaviso) = pyaviso() else { return };
    let ours = Path::new(env!("CARGO_BIN_EXE_aviso"));
    for parameters in cases {
        for test_mode in [false, true] {
            let (their_code, their_out) = key(&pyaviso, home, parameters, test_mode);
            let (our_code, our_out) = key(ours, home, parameters, test_mode);
            assert_eq!(
                our_code, their_code,
                "exit code for {parameters} (test mode {test_mode}); pyaviso printed {their_out:?}"
            );
            if their_code == Some(0) {
                assert_eq!(
                    our_out, their_out,
                    "key for {parameters} (test mode {test_mode})"
                );
            }
        }
    }
}

#[test]
fn flight_keys_match_pyaviso() {
    let home = tempfile::tempdir().unwrap();
    compare(
        home.path(),
        &[
            "event=flight,country=Italy,airport=fco,date=20210101,number=AZ203",
            "event=flight,country=ITALY,airport=Fco,date=2021011,number=az203",
            "event=flight,country=Italy,airport=fco,date=202021,number=AZ203",
            "number=1,date=20211231,airport=lhr,country=United Kingdom,event=flight",
            "event=flight,country=Italy,airport=fco,date=20210101",
            "event=flight,country=Italy,airport=fco,date=2021-01-01,number=AZ203",
            "event=flight,country=Italy,airport=fco,date=20210230,number=AZ203",
            "event=flight,country=Italy,airport=fco,date=20210101,number=AZ203,payload=x",
            "event=flight2,country=Italy",
            "country=Italy,airport=fco",
            "event=flight,country",
        ],
    );
}

#[test]
fn ecmwf_keys_match_pyaviso() {
    let home = tempfile::tempdir().unwrap();
    let folder = home.path().join(".aviso/service_configuration");
    std::fs::create_dir_all(&folder).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/ecmwf/expanded_event_listener_schema.json");
    std::fs::copy(schema, folder.join("event_listener_schema.json")).unwrap();
    compare(
        home.path(),
        &[
            "event=dissemination,destination=foo,target=E1,class=od,expver=1,domain=g,time=0,stream=enfo,step=1,date=20210101",
            "event=dissemination,destination=Bar,target=E1,class=rd,expver=12,domain=g,time=12,stream=oper,step=240,date=2021011",
            "event=dissemination,destination=foo,target=E1,class=od,expver=1,domain=g,time=6,stream=enfo,step=100001,date=20210101",
            "event=dissemination,destination=foo,target=E1,class=od,expver=x,domain=g,time=0,stream=enfo,step=1,date=20210101",
            "event=dissemination,destination=foo,target=E1,class=zz,expver=1,domain=g,time=0,stream=enfo,step=1,date=20210101",
            "event=dissemination,destination=foo,target=E1,class=od,expver=1,domain=g,time=3,stream=enfo,step=1,date=20210101",
            "event=mars,class=od,expver=1,domain=g,time=0,stream=enfo,step=1,date=20210101",
            "event=mars,class=ea,expver=0001,domain=g,time=18,stream=wave,step=0,date=20201231",
            "event=mars,class=od,expver=1,domain=g,time=0,stream=enfo,step=1,date=20210101,location=s3://x",
        ],
    );
}
