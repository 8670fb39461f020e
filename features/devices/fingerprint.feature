@devices @login
Feature: Device certificate fingerprints
  A CERTIFICATES device may be registered with the fingerprint of its
  certificate: 40 hex digits (SHA-1) or 64 hex digits (SHA-256), compared
  case-insensitively; anything else is refused. Without one, the first
  successful login binds the presented certificate. A secondary fingerprint,
  set with reset-fingerprint, is accepted when the primary does not match.

  Sources: IoTDA API AddDevice (auth_info.fingerprint)
  https://support.huaweicloud.com/intl/en-us/api-iothub/iot_06_v5_0046.html,
  ResetFingerprint (huaweicloud-sdk-go-v3 model_reset_fingerprint.go,
  AuthInfoRes.secondary_fingerprint); IoTDP FAQ "What is a certificate
  fingerprint"; certlab docs/iotda.md §7.1, §7.3 and §8.3.

  Background:
    Given a verified device CA "acme"
    And an MQTT product

  @DEV-FINGERPRINT @LOGIN-SUCCESS
  Scenario Outline: a device registered with the <algorithm> fingerprint in <case> logs in
    Given device "meter-1" holds a certificate from CA "acme"
    When I register device "meter-1" with the <algorithm> fingerprint of its certificate in <case>
    Then the request succeeds
    When device "meter-1" logs in over MQTT 5
    Then the login succeeds

    Examples:
      | algorithm | case       |
      | SHA-1     | lower case |
      | SHA-1     | upper case |
      | SHA-256   | lower case |
      | SHA-256   | upper case |

  @DEV-FINGERPRINT
  Scenario Outline: a fingerprint of <problem> is refused
    Given device "meter-1" holds a certificate from CA "acme"
    When I register device "meter-1" with fingerprint "<fingerprint>"
    Then the request is refused with HTTP 400 and error code "IOTDA.000006"

    Examples:
      | problem                | fingerprint                                                                                     |
      | 39 hex digits          | 0123456789abcdef0123456789abcdef0123456                                                         |
      | 41 hex digits          | 0123456789abcdef0123456789abcdef012345678                                                       |
      | 63 hex digits          | 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde                                 |
      | 65 hex digits          | 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0                               |
      | 64 non-hex characters  | zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef                                |
      | openssl colon notation | 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF |

  @DEV-FINGERPRINT
  Scenario Outline: a certificate whose fingerprint does not match is refused over MQTT <version>
    Given a registered device "meter-1" with a certificate from CA "acme"
    And device "meter-1" also holds a certificate "spare" from CA "acme"
    When device "meter-1" logs in over MQTT <version> with its certificate "spare"
    Then the login is refused with reason "fingerprint_mismatch"

    Examples:
      | version |
      | 3.1.1   |
      | 5       |

  @DEV-FINGERPRINT-BIND
  Scenario: the first successful login binds the presented certificate
    Given device "meter-1" holds a certificate from CA "acme"
    And device "meter-1" is registered without a fingerprint
    And device "meter-1" also holds a certificate "spare" from CA "acme"
    When device "meter-1" logs in over MQTT 5
    Then the login succeeds
    And device "meter-1" shows the fingerprint of its certificate
    When device "meter-1" disconnects
    And device "meter-1" logs in over MQTT 5 with its certificate "spare"
    Then the login is refused with reason "fingerprint_mismatch"
    When device "meter-1" logs in over MQTT 5
    Then the login succeeds

  @DEV-FINGERPRINT-SECONDARY
  Scenario Outline: a secondary fingerprint is accepted when the primary does not match, over MQTT <version>
    Given a registered device "meter-1" with a certificate from CA "acme"
    And device "meter-1" also holds a certificate "spare" from CA "acme"
    When I set the SECONDARY fingerprint of device "meter-1" to that of its certificate "spare"
    Then the request succeeds
    When device "meter-1" logs in over MQTT <version> with its certificate "spare"
    Then the login succeeds
    When device "meter-1" disconnects
    And device "meter-1" logs in over MQTT <version>
    Then the login succeeds

    Examples:
      | version |
      | 3.1.1   |
      | 5       |

  @DEV-FINGERPRINT-SECONDARY
  Scenario: a certificate matching neither fingerprint is still refused
    Given a registered device "meter-1" with a certificate from CA "acme"
    And device "meter-1" also holds a certificate "spare" from CA "acme"
    And device "meter-1" also holds a certificate "stranger" from CA "acme"
    When I set the SECONDARY fingerprint of device "meter-1" to that of its certificate "spare"
    Then the request succeeds
    When device "meter-1" logs in over MQTT 5 with its certificate "stranger"
    Then the login is refused with reason "fingerprint_mismatch"
