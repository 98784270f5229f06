use super::*;

fn route(text: &str) -> StaticRoute {
    parse_route(text, None).unwrap()
}

#[test]
fn rfc3442_destination_descriptors() {
    // RFC 3442 §2's table, each with router 10.0.0.1 appended.
    let cases: [(&str, &[u8]); 7] = [
        ("0.0.0.0/0", &[0]),
        ("10.0.0.0/8", &[8, 10]),
        ("10.0.0.0/24", &[24, 10, 0, 0]),
        ("10.17.0.0/16", &[16, 10, 17]),
        ("10.27.129.0/24", &[24, 10, 27, 129]),
        ("10.229.0.128/25", &[25, 10, 229, 0, 128]),
        ("10.198.122.47/32", &[32, 10, 198, 122, 47]),
    ];
    for (destination, descriptor) in cases {
        let encoded = encode_routes(&[route(&format!("{destination} via 10.0.0.1"))]);
        let mut expected = descriptor.to_vec();
        expected.extend([10, 0, 0, 1]);
        assert_eq!(encoded, expected, "{destination}");
    }
}

#[test]
fn option_121_whole_option() {
    let option = DhcpOptionValue::new(
        CLASSLESS_STATIC_ROUTES,
        OptionValue::ClasslessStaticRoutes(vec![
            route("10.0.0.0/8 via 10.0.0.1"),
            route("0.0.0.0/0 via 10.0.0.254"),
        ]),
    )
    .unwrap();
    assert_eq!(
        option.encode(),
        [121, 11, 8, 10, 10, 0, 0, 1, 0, 10, 0, 0, 254]
    );
}

#[test]
fn rfc3397_example_with_compression() {
    // RFC 3397 §3: "eng.apple.com." and "marketing.apple.com.", 27 bytes,
    // the second name ending in a pointer to offset 4 ("apple.com").
    let option = DhcpOptionValue::new(
        DOMAIN_SEARCH,
        OptionValue::DomainSearch(vec!["eng.apple.com".into(), "marketing.apple.com".into()]),
    )
    .unwrap();
    let mut expected = vec![119, 27];
    expected.extend(b"\x03eng\x05apple\x03com\x00");
    expected.extend(b"\x09marketing\xc0\x04");
    assert_eq!(option.encode(), expected);
}

#[test]
fn scalar_and_list_encodings() {
    let encode = |code, value| DhcpOptionValue::new(code, value).unwrap().encode();
    assert_eq!(encode(26, OptionValue::U16(1450)), [26, 2, 0x05, 0xAA]);
    assert_eq!(encode(19, OptionValue::Bool(false)), [19, 1, 0]);
    assert_eq!(encode(23, OptionValue::U8(64)), [23, 1, 64]);
    assert_eq!(encode(24, OptionValue::U32(600)), [24, 4, 0, 0, 2, 88]);
    assert_eq!(
        encode(
            42,
            OptionValue::Addresses(vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)])
        ),
        [42, 8, 10, 0, 0, 1, 10, 0, 0, 2]
    );
    assert_eq!(
        encode(28, OptionValue::Address(Ipv4Addr::new(172, 16, 255, 255))),
        [28, 4, 172, 16, 255, 255]
    );
    assert_eq!(
        encode(114, OptionValue::String("https://p/".into())),
        b"\x72\x0ahttps://p/"
    );
    assert_eq!(
        encode(43, OptionValue::Bytes(vec![1, 2, 10])),
        [43, 3, 1, 2, 10]
    );
}

#[test]
fn hex_bytes_in_both_spellings() {
    assert_eq!(parse_hex("01:02:0a"), Ok(vec![1, 2, 10]));
    assert_eq!(parse_hex("01020A"), Ok(vec![1, 2, 10]));
    assert_eq!(parse_hex(""), Ok(vec![]));
    assert_eq!(parse_hex("1:2:a"), Ok(vec![1, 2, 10]));
    assert!(parse_hex("102").unwrap_err().contains("odd number"));
    assert!(parse_hex("123:4").unwrap_err().contains("not hex"));
    assert!(parse_hex("01::02").unwrap_err().contains("not hex"));
    assert!(parse_hex("zz").unwrap_err().contains("not hex"));
    assert!(parse_hex("é1a").unwrap_err().contains("not hex"));
}

#[test]
fn reserved_codes_name_the_dedicated_key() {
    let error = DhcpOptionValue::new(3, OptionValue::Address(Ipv4Addr::LOCALHOST)).unwrap_err();
    assert!(error.contains("dhcp.router"), "{error}");
    assert!(reserved(6).unwrap().contains("dhcp.dns_servers"));
    assert!(reserved(15).unwrap().contains("dns.domain"));
    assert!(reserved(51).unwrap().contains("dhcp.lease_time"));
    assert!(reserved(26).is_none());
}

#[test]
fn oversized_options_are_refused() {
    let error = DhcpOptionValue::new(43, OptionValue::Bytes(vec![0; 256])).unwrap_err();
    assert!(error.contains("256 bytes"), "{error}");
    let many = vec![Ipv4Addr::LOCALHOST; 64];
    assert!(DhcpOptionValue::new(42, OptionValue::Addresses(many)).is_err());
    assert!(DhcpOptionValue::new(43, OptionValue::Bytes(vec![0; 255])).is_ok());
}

#[test]
fn routes_parse_strictly() {
    let subnet = Some("172.16.0.0/16".parse().unwrap());
    assert!(
        parse_route("10.0.0.0/8 172.16.0.1", subnet)
            .unwrap_err()
            .contains("not a route")
    );
    assert!(
        parse_route("10.1.0.0/8 via 172.16.0.1", subnet)
            .unwrap_err()
            .contains("did you mean 10.0.0.0/8")
    );
    assert!(
        parse_route("10.0.0.0/8 via 192.168.0.1", subnet)
            .unwrap_err()
            .contains("outside dhcp.subnet")
    );
    assert!(parse_route("10.0.0.0/8 via 172.16.0.1", subnet).is_ok());
}

#[test]
fn typed_values_check_type_and_range() {
    let v = |text: &str| -> toml::Value {
        toml::from_str::<toml::Table>(&format!("v = {text}")).unwrap()["v"].clone()
    };
    assert_eq!(
        typed_value(OptionType::U8, &v("255")),
        Ok(OptionValue::U8(255))
    );
    assert!(
        typed_value(OptionType::U8, &v("256"))
            .unwrap_err()
            .contains("out of range 0..=255")
    );
    assert!(
        typed_value(OptionType::U16, &v("-1"))
            .unwrap_err()
            .contains("out of range")
    );
    assert!(
        typed_value(OptionType::U32, &v("\"5\""))
            .unwrap_err()
            .contains("expected an integer, found string")
    );
    assert!(
        typed_value(OptionType::Bool, &v("1"))
            .unwrap_err()
            .contains("true or false")
    );
    assert!(
        typed_value(OptionType::Addresses, &v("[]"))
            .unwrap_err()
            .contains("at least one")
    );
    assert!(
        typed_value(OptionType::Addresses, &v("\"10.0.0.1\""))
            .unwrap_err()
            .contains("list of addresses")
    );
    assert!(
        typed_value(OptionType::Address, &v("\"10.0.0\""))
            .unwrap_err()
            .contains("not an IPv4")
    );
    assert!(
        typed_value(OptionType::String, &v("\"\""))
            .unwrap_err()
            .contains("empty")
    );
    assert_eq!(
        typed_value(OptionType::Bytes, &v("\"0a0b\"")),
        Ok(OptionValue::Bytes(vec![10, 11]))
    );
}
