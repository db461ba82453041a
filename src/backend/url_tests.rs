//! Unit tests of the URL mapping: every restic form of every scheme, the options
//! with and without equivalent, and the error for each missing variable. b2, azure,
//! gs and swift have no local server here: these tests are all their coverage.

use super::*;
use rstest::rstest;

fn env(pairs: &[(&str, &str)]) -> Environment {
    Environment::new(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Secret::new(*v)))
            .collect(),
    )
}

fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const AWS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "AKID"),
    ("AWS_SECRET_ACCESS_KEY", "s3cr3t-key"),
];

fn s3(url: &str, o: &[(&str, &str)]) -> S3 {
    match parse(url, &env(AWS), &opts(o)) {
        Ok(Spec::S3(s)) => s,
        other => panic!("{url}: {other:?}"),
    }
}

#[rstest]
#[case::https(
    "s3:https://s3.example.com/bucket/pre/fix",
    "https://s3.example.com",
    "bucket",
    "pre/fix"
)]
#[case::http_port("s3:http://127.0.0.1:9000/b/p", "http://127.0.0.1:9000", "b", "p")]
#[case::host_means_https(
    "s3:s3.amazonaws.com/bucket/repo",
    "https://s3.amazonaws.com",
    "bucket",
    "repo"
)]
#[case::double_slash("s3://minio.lan:9000/bucket", "https://minio.lan:9000", "bucket", "")]
#[case::prefix_cleaned("s3:https://h/b//a/./c/", "https://h", "b", "a/c")]
fn s3_forms_map_to_endpoint_bucket_prefix(
    #[case] url: &str,
    #[case] endpoint: &str,
    #[case] bucket: &str,
    #[case] prefix: &str,
) {
    let s = s3(url, &[]);
    assert_eq!(
        (s.endpoint.as_str(), s.bucket.as_str(), s.prefix.as_str()),
        (endpoint, bucket, prefix)
    );
}

#[test]
fn s3_static_keys_and_session_token_come_from_the_environment() {
    let mut vars = AWS.to_vec();
    vars.push(("AWS_SESSION_TOKEN", "tok"));
    let Ok(Spec::S3(s)) = parse("s3:h/b", &env(&vars), &[]) else {
        panic!("not s3")
    };
    assert_eq!(
        s.keys,
        S3Keys::Static {
            access_key_id: Secret::new("AKID"),
            secret_access_key: Secret::new("s3cr3t-key"),
            session_token: Some(Secret::new("tok")),
        }
    );
    assert!(!format!("{s:?}").contains("s3cr3t-key"));
}

#[test]
fn s3_profile_is_used_without_static_keys() {
    let Ok(Spec::S3(s)) = parse("s3:h/b", &env(&[("AWS_PROFILE", "backup")]), &[]) else {
        panic!("not s3")
    };
    assert_eq!(s.keys, S3Keys::Profile("backup".to_owned()));
}

#[rstest]
#[case::option_wins(&[("s3.region", "eu-west-3")], &[("AWS_DEFAULT_REGION", "us-east-2")], Some("eu-west-3"))]
#[case::env(&[], &[("AWS_DEFAULT_REGION", "us-east-2")], Some("us-east-2"))]
#[case::none(&[], &[], None)]
fn s3_region_from_option_then_environment(
    #[case] o: &[(&str, &str)],
    #[case] extra: &[(&str, &str)],
    #[case] want: Option<&str>,
) {
    let mut vars = AWS.to_vec();
    vars.extend_from_slice(extra);
    let Ok(Spec::S3(s)) = parse("s3:h/b", &env(&vars), &opts(o)) else {
        panic!("not s3")
    };
    assert_eq!(s.region.as_deref(), want);
}

#[rstest]
#[case::auto_custom("s3:https://minio.lan/b", None, false)]
#[case::auto_aws("s3:s3.eu-west-1.amazonaws.com/b", None, true)]
#[case::dns("s3:https://minio.lan/b", Some("dns"), true)]
#[case::path("s3:s3.amazonaws.com/b", Some("path"), false)]
fn s3_bucket_lookup_picks_the_addressing_style(
    #[case] url: &str,
    #[case] lookup: Option<&str>,
    #[case] virtual_host: bool,
) {
    let o: Vec<(&str, &str)> = lookup
        .map(|l| ("s3.bucket-lookup", l))
        .into_iter()
        .collect();
    assert_eq!(s3(url, &o).virtual_host, virtual_host);
}

#[test]
fn s3_storage_class_and_other_schemes_options_are_ignored() {
    let s = s3(
        "s3:h/b",
        &[
            ("s3.storage-class", "GLACIER"),
            ("rclone.args", "serve"),
            ("b2.x", "y"),
        ],
    );
    assert_eq!(s.bucket, "b");
}

#[rstest]
#[case::unknown_s3_option("s3:h/b", &[("s3.list-objects-v1", "true")], "`s3.list-objects-v1` has no equivalent")]
#[case::bad_lookup("s3:h/b", &[("s3.bucket-lookup", "sideways")], "`s3.bucket-lookup`: `sideways` is not one of")]
#[case::no_bucket("s3:https://h", &[], "no bucket name")]
#[case::no_host("s3:https:///b", &[], "no host")]
#[case::unknown_b2_option("b2:b:p", &[("b2.hard-delete", "x")], "`b2.hard-delete` has no equivalent")]
#[case::unknown_azure_option("azure:c:/p", &[("azure.endpoint", "x")], "`azure.endpoint` has no equivalent")]
fn bad_urls_and_options_are_named(
    #[case] url: &str,
    #[case] o: &[(&str, &str)],
    #[case] want: &str,
) {
    let mut vars = AWS.to_vec();
    vars.extend([
        ("B2_ACCOUNT_ID", "i"),
        ("B2_ACCOUNT_KEY", "k"),
        ("AZURE_ACCOUNT_NAME", "acct"),
        ("AZURE_ACCOUNT_KEY", "k"),
    ]);
    let e = parse(url, &env(&vars), &opts(o)).unwrap_err();
    assert!(e.to_string().contains(want), "{e}");
}

#[rstest]
#[case::s3_none("s3:h/b", &[], "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)")]
#[case::s3_half("s3:h/b", &[("AWS_ACCESS_KEY_ID", "x")], "AWS_SECRET_ACCESS_KEY is not set")]
#[case::b2_id("b2:b:p", &[("B2_ACCOUNT_KEY", "k")], "B2_ACCOUNT_ID is not set")]
#[case::b2_key("b2:b:p", &[("B2_ACCOUNT_ID", "i")], "B2_ACCOUNT_KEY is not set")]
#[case::azure_name("azure:c:/p", &[("AZURE_ACCOUNT_KEY", "k")], "AZURE_ACCOUNT_NAME is not set")]
#[case::azure_key("azure:c:/p", &[("AZURE_ACCOUNT_NAME", "a")], "AZURE_ACCOUNT_KEY (or AZURE_ACCOUNT_SAS) is not set")]
#[case::gs("gs:b:/p", &[("GOOGLE_PROJECT_ID", "p")], "GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_ACCESS_TOKEN) is not set")]
#[case::swift("swift:c:/p", &[], "OS_STORAGE_URL and OS_AUTH_TOKEN is not set")]
#[case::swift_keystone("swift:c:/p", &[("OS_AUTH_URL", "https://k/v3"), ("OS_USERNAME", "u")], "cannot log in to Keystone")]
#[case::empty_counts_as_unset("b2:b:p", &[("B2_ACCOUNT_ID", ""), ("B2_ACCOUNT_KEY", "k")], "B2_ACCOUNT_ID is not set")]
fn missing_credentials_name_the_variable(
    #[case] url: &str,
    #[case] vars: &[(&str, &str)],
    #[case] want: &str,
) {
    let e = parse(url, &env(vars), &[]).unwrap_err();
    assert!(e.to_string().contains(want), "{e}");
    assert!(
        e.to_string().contains("env file") || e.to_string().contains("Keystone"),
        "{e}"
    );
}

#[test]
fn b2_maps_bucket_prefix_and_account() {
    let vars = [
        ("B2_ACCOUNT_ID", "0012ab"),
        ("B2_ACCOUNT_KEY", "K00-secret"),
    ];
    let got = parse(
        "b2:my-bucket:hosts/a",
        &env(&vars),
        &opts(&[("b2.connections", "5")]),
    );
    assert_eq!(
        got,
        Ok(Spec::B2(B2 {
            bucket: "my-bucket".to_owned(),
            prefix: "hosts/a".to_owned(),
            account_id: Secret::new("0012ab"),
            account_key: Secret::new("K00-secret"),
        }))
    );
}

#[rstest]
#[case::key(&[("AZURE_ACCOUNT_NAME", "acct"), ("AZURE_ACCOUNT_KEY", "a2V5")], "https://acct.blob.core.windows.net", AzureKey::Account(Secret::new("a2V5")))]
#[case::sas(&[("AZURE_ACCOUNT_NAME", "acct"), ("AZURE_ACCOUNT_SAS", "sv=1&sig=x")], "https://acct.blob.core.windows.net", AzureKey::Sas(Secret::new("sv=1&sig=x")))]
#[case::suffix(&[("AZURE_ACCOUNT_NAME", "acct"), ("AZURE_ACCOUNT_KEY", "k"), ("AZURE_ENDPOINT_SUFFIX", "core.chinacloudapi.cn")], "https://acct.blob.core.chinacloudapi.cn", AzureKey::Account(Secret::new("k")))]
fn azure_maps_container_prefix_account_and_key(
    #[case] vars: &[(&str, &str)],
    #[case] endpoint: &str,
    #[case] key: AzureKey,
) {
    let got = parse(
        "azure:backups:/host/repo",
        &env(vars),
        &opts(&[("azure.access-tier", "Cool")]),
    );
    assert_eq!(
        got,
        Ok(Spec::Azure(Azure {
            account: "acct".to_owned(),
            container: "backups".to_owned(),
            prefix: "host/repo".to_owned(),
            endpoint: endpoint.to_owned(),
            key,
        }))
    );
}

#[rstest]
#[case::file(&[("GOOGLE_PROJECT_ID", "p"), ("GOOGLE_APPLICATION_CREDENTIALS", "/etc/gs.json")], GcsCredentials::File("/etc/gs.json".to_owned()))]
#[case::token_wins(&[("GOOGLE_APPLICATION_CREDENTIALS", "/etc/gs.json"), ("GOOGLE_ACCESS_TOKEN", "ya29")], GcsCredentials::Token(Secret::new("ya29")))]
fn gs_maps_bucket_prefix_and_credentials(
    #[case] vars: &[(&str, &str)],
    #[case] credentials: GcsCredentials,
) {
    let got = parse("gs:bucket:/", &env(vars), &opts(&[("gs.region", "EU")]));
    assert_eq!(
        got,
        Ok(Spec::Gcs(Gcs {
            bucket: "bucket".to_owned(),
            prefix: String::new(),
            credentials,
        }))
    );
}

#[test]
fn swift_maps_container_prefix_storage_url_and_token() {
    let vars = [
        ("OS_STORAGE_URL", "https://swift.example/v1/AUTH_x"),
        ("OS_AUTH_TOKEN", "gAAAA"),
    ];
    let got = parse("swift:restic:/a/b", &env(&vars), &[]);
    assert_eq!(
        got,
        Ok(Spec::Swift(Swift {
            container: "restic".to_owned(),
            prefix: "a/b".to_owned(),
            storage_url: "https://swift.example/v1/AUTH_x".to_owned(),
            token: Secret::new("gAAAA"),
        }))
    );
}

#[rstest]
#[case("/srv/restic", Spec::Local("/srv/restic".to_owned()))]
#[case("/mnt/a:b/repo", Spec::Local("/mnt/a:b/repo".to_owned()))]
#[case("relative", Spec::Local("relative".to_owned()))]
#[case("local:/srv/r", Spec::Local("/srv/r".to_owned()))]
#[case(
    "rest:http://u:p@h:8000/r",
    Spec::Rest(Secret::new("rest:http://u:p@h:8000/r"))
)]
#[case("rclone:remote:path", Spec::Rclone("remote:path".to_owned()))]
#[case("sftp:user@host:/srv/r", Spec::Sftp("user@host:/srv/r".to_owned()))]
fn other_schemes_are_passed_on(#[case] url: &str, #[case] want: Spec) {
    assert_eq!(parse(url, &Environment::default(), &[]), Ok(want));
}

#[test]
fn the_first_variable_of_a_name_wins() {
    let e = env(&[("B2_ACCOUNT_ID", "file"), ("B2_ACCOUNT_ID", "process")]);
    assert_eq!(e.get("B2_ACCOUNT_ID").map(Secret::expose), Some("file"));
}

#[test]
fn display_shows_no_secret() {
    let s = parse("s3:https://h/b/p", &env(AWS), &[]).expect("s3");
    assert_eq!(s.to_string(), "s3:https://h/b/p");
    assert!(!format!("{s:?}").contains("s3cr3t-key"));
}
