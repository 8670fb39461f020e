@login
Feature: Certificate login succeeds
  A registered CERTIFICATES device presenting a certificate that chains to a
  verified CA of its project, with a matching fingerprint, ClientId
  {device_id}_0_{0|1}_{YYYYMMDDHH} and username = device_id, gets CONNACK
  success over MQTT 3.1.1 and MQTT 5. The ClientId is parsed from the right,
  because a device_id contains underscores. One connection per device: a
  second login takes over from the first.

  Sources: IoTDA "MQTT(S) Certificate Authentication", step "Connecting a
  device"; MQTT CONNECT parameters
  https://support.huaweicloud.com/intl/en-us/api-iothub/iot_06_v5_3009.html;
  IoTDA usage limits (one connection per device)
  https://support.huaweicloud.com/intl/en-us/productdesc-iothub/iot_04_0010.html;
  certlab docs/iotda.md §8.1–§8.4.

  Background:
    Given a verified device CA "acme"
    And an MQTT product
    And a registered device "meter-1" with a certificate from CA "acme"

  @LOGIN-SUCCESS @LOGIN-CLIENTID @LOGIN-USERNAME
  Scenario Outline: a registered device logs in over MQTT <version> with ClientId sign type <sign>
    When device "meter-1" logs in over MQTT <version> with ClientId "{device_id}_0_<sign>_{timestamp}"
    Then the login succeeds

    Examples:
      | version | sign |
      | 3.1.1   | 0    |
      | 3.1.1   | 1    |
      | 5       | 0    |
      | 5       | 1    |

  @LOGIN-SUCCESS @LOGIN-CLIENTID
  Scenario Outline: a device whose node_id looks like ClientId fields logs in over MQTT <version>
    Given a registered device "tricky" with node_id "x_0_0_2024010100" and a certificate from CA "acme"
    When device "tricky" logs in over MQTT <version>
    Then the login succeeds

    Examples:
      | version |
      | 3.1.1   |
      | 5       |

  @LOGIN-SUCCESS @LOGIN-TLS
  Scenario Outline: a device with a <variant> certificate logs in
    Given a registered device "meter-2" with a "<variant>" certificate from CA "acme"
    When device "meter-2" logs in over MQTT 5
    Then the login succeeds

    Examples:
      | variant          |
      | valid-p384       |
      | valid-ed25519    |
      | via-intermediate |

  @LOGIN-USERNAME
  Scenario Outline: a password sent by a certificate device over MQTT <version> is ignored
    When device "meter-1" logs in over MQTT <version> with password "not-a-secret"
    Then the login succeeds

    Examples:
      | version |
      | 3.1.1   |
      | 5       |

  @LOGIN-TAKEOVER
  Scenario Outline: a second login of the same device over MQTT <version> takes over from the first
    Given device "meter-1" is connected over MQTT <version>
    When device "meter-1" logs in again over MQTT <version>
    Then the login succeeds
    And the previous session of device "meter-1" is closed by the platform within 5 seconds
    And the session of device "meter-1" is still connected
    And device "meter-1" has status "ONLINE" within 5 seconds

    Examples:
      | version |
      | 3.1.1   |
      | 5       |
