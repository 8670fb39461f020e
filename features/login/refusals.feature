@login
Feature: Certificate login refusals
  Every refusal has a reason and, per the login-refusal table of
  docs/requirements.md (iotda.Refusals), a stage: certificate problems are
  refused during the TLS handshake (the client certificate is required and its
  chain verified against the verified CAs), identity problems with a CONNACK
  code that depends on the MQTT version. A key outside certlab's stated key
  policy (RSA 2048..8192 bits, ECDSA P-256/P-384/P-521 or Ed25519) anywhere in
  the chain is a certificate problem too (bad_chain). Keepalive must be 30–1200 s; the
  username must be the device_id of the ClientId; the anchoring CA must belong
  to the device's project. On certlab's reference platform every refusal is
  also checked against the platform's login-attempt log.

  Sources: IoTDA MQTT CONNECT parameters and CONNACK codes
  https://support.huaweicloud.com/intl/en-us/api-iothub/iot_06_v5_3009.html;
  IoTDA usage limits (keepalive 30–1200 s)
  https://support.huaweicloud.com/intl/en-us/productdesc-iothub/iot_04_0010.html;
  IoTDP FAQ on fingerprints; certlab docs/iotda.md §8.1–§8.3 and
  the login-refusal table of docs/requirements.md.

  Background:
    Given a verified device CA "acme"
    And an MQTT product
    And a registered device "meter-1" with a certificate from CA "acme"

  @LOGIN-TLS
  Scenario Outline: a device without a client certificate is refused over MQTT <version>
    When device "meter-1" logs in over MQTT <version> without a client certificate
    Then the login is refused with reason "no_client_cert"

    Examples:
      | version |
      | 3.1.1   |
      | 5       |

  @LOGIN-TLS
  Scenario Outline: a device presenting a <variant> certificate is refused with <reason> over MQTT <version>
    Given a registered device "meter-2" with a "<variant>" certificate from CA "acme"
    When device "meter-2" logs in over MQTT <version>
    Then the login is refused with reason "<reason>"

    Examples:
      | variant             | reason             | version |
      | expired             | cert_expired       | 3.1.1   |
      | expired             | cert_expired       | 5       |
      | not-yet-valid       | cert_not_yet_valid | 5       |
      | unknown-ca          | unknown_ca         | 3.1.1   |
      | unknown-ca          | unknown_ca         | 5       |
      | self-signed         | unknown_ca         | 5       |
      | wrong-eku           | bad_chain          | 5       |
      | intermediate-not-ca | bad_chain          | 5       |
      | sha1-signature      | bad_chain          | 5       |
      | mismatched-key      | bad_chain          | 5       |
      | rsa-1024            | bad_chain          | 3.1.1   |
      | rsa-1024            | bad_chain          | 5       |

  @LOGIN-TLS @reference
  Scenario: a device whose key is outside the key policy learns why from the login-attempt log
    Given a registered device "meter-2" with a "rsa-1024" certificate from CA "acme"
    When device "meter-2" logs in over MQTT 5
    Then the login is refused with reason "bad_chain"
    And the login-attempt log explains "RSA 1024-bit key"

  @LOGIN-CLIENTID
  Scenario Outline: ClientId "<client_id>" (<problem>) is refused over MQTT <version>
    When device "meter-1" logs in over MQTT <version> with ClientId "<client_id>"
    Then the login is refused with reason "clientid_format"

    Examples:
      | problem                  | client_id                       | version |
      | the bare device_id       | {device_id}                     | 3.1.1   |
      | the bare device_id       | {device_id}                     | 5       |
      | no timestamp             | {device_id}_0_0                 | 5       |
      | a 9-digit timestamp      | {device_id}_0_0_202401011       | 3.1.1   |
      | letters in the timestamp | {device_id}_0_0_2024010A00      | 5       |
      | identity type 1          | {device_id}_1_0_{timestamp}     | 5       |
      | sign type 2              | {device_id}_0_2_{timestamp}     | 3.1.1   |
      | an empty ClientId        |                                 | 5       |

  @LOGIN-CLIENTID
  Scenario Outline: a ClientId naming an unregistered device is refused over MQTT <version>
    When device "meter-1" logs in over MQTT <version> with ClientId "{device_id}-nobody_0_0_{timestamp}" and username "{device_id}-nobody"
    Then the login is refused with reason "device_not_found"

    Examples:
      | version |
      | 3.1.1   |
      | 5       |

  @LOGIN-USERNAME
  Scenario Outline: username <what> is refused over MQTT <version>
    When device "meter-1" logs in over MQTT <version> with username "<username>"
    Then the login is refused with reason "username_mismatch"

    Examples:
      | what                         | username          | version |
      | of another device            | {device:meter-2}  | 3.1.1   |
      | of another device            | {device:meter-2}  | 5       |
      | that is empty                |                   | 5       |
      | in upper case                | {DEVICE_ID}       | 5       |
      | with a suffix                | {device_id}x      | 3.1.1   |

  @LOGIN-KEEPALIVE
  Scenario Outline: keepalive <keepalive> s is accepted over MQTT <version>
    When device "meter-1" logs in over MQTT <version> with keepalive <keepalive>
    Then the login succeeds

    Examples:
      | keepalive | version |
      | 30        | 3.1.1   |
      | 1200      | 3.1.1   |
      | 30        | 5       |
      | 1200      | 5       |

  @LOGIN-KEEPALIVE
  Scenario Outline: keepalive <keepalive> s is refused over MQTT <version>
    When device "meter-1" logs in over MQTT <version> with keepalive <keepalive>
    Then the login is refused with reason "keepalive_range"

    Examples:
      | keepalive | version |
      | 0         | 3.1.1   |
      | 29        | 3.1.1   |
      | 1201      | 3.1.1   |
      | 0         | 5       |
      | 29        | 5       |
      | 1201      | 5       |
      | 65535     | 5       |

  @LOGIN-PROJECT @reference
  Scenario Outline: a certificate anchored on a CA of another project is refused over MQTT <version>
    Given a verified device CA "foreign" in a fresh project
    And a registered device "meter-2" with a certificate from CA "foreign"
    When device "meter-2" logs in over MQTT <version>
    Then the login is refused with reason "wrong_project"

    Examples:
      | version |
      | 3.1.1   |
      | 5       |
