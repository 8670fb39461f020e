@mqtt
Feature: MQTT protocol limits
  IoTDA supports no QoS 2, no retained messages and no wills, and refuses a
  PUBLISH larger than 1 MB (checked on both sides of the ambiguity: a payload
  under 10^6 bytes is accepted, one over 2^20 bytes refused). An MQTT 5 server that does not support QoS 2 or
  retained messages says so in CONNACK (Maximum QoS, Retain Available) and
  disconnects a client that uses them anyway (MQTT 5.0 §3.2.2.3.4,
  §3.2.2.3.5, §3.3.1.3).

  Sources: IoTDA usage limits ("no QoS 2, will or retained messages", "max
  PUBLISH 1 MB") https://support.huaweicloud.com/intl/en-us/productdesc-iothub/iot_04_0010.html;
  certlab docs/iotda.md §8.4; MQTT 5.0
  https://docs.oasis-open.org/mqtt/mqtt/v5.0/mqtt-v5.0.html.

  Background:
    Given a verified device CA "acme"
    And an MQTT product
    And a registered device "meter-1" with a certificate from CA "acme"

  @MQTT-LIMITS
  Scenario: the MQTT 5 CONNACK advertises Maximum QoS 1 and no retained messages
    When device "meter-1" probes the platform over MQTT 5
    Then the CONNACK advertises Maximum QoS 1
    And the CONNACK advertises Retain Available 0

  @MQTT-LIMITS
  Scenario: a QoS 2 PUBLISH is refused
    When device "meter-1" probes the platform over MQTT 5
    And the probe publishes with QoS 2 to "$oc/devices/{device_id}/sys/messages/up"
    Then the platform refuses the probe's PUBLISH

  @MQTT-LIMITS
  Scenario: a retained PUBLISH is not retained
    When device "meter-1" probes the platform over MQTT 5
    And the probe publishes a retained message with QoS 1 to "$oc/devices/{device_id}/user/retained"
    Then the platform refuses the probe's PUBLISH
    When device "meter-1" logs in over MQTT 5
    And device "meter-1" subscribes with QoS 1 to "$oc/devices/{device_id}/user/retained"
    Then device "meter-1" receives no message on "$oc/devices/{device_id}/user/retained" within 2 seconds

  @MQTT-LIMITS
  Scenario: a CONNECT carrying a will is refused
    When device "meter-1" probes the platform over MQTT 5 with a will on "$oc/devices/{device_id}/sys/messages/up"
    Then the probe's CONNECT is refused

  @MQTT-LIMITS
  Scenario Outline: a PUBLISH of <size> over MQTT <version> is <verdict>
    Given device "meter-1" is connected over MQTT <version>
    When device "meter-1" publishes <bytes> bytes with QoS 1 to "$oc/devices/{device_id}/user/blob"
    Then the publish is <verdict>

    Examples:
      | size                     | bytes   | version | verdict                            |
      | just under 1 MB          | 998976  | 5       | acknowledged with reason code 0x00 |
      | just under 1 MB          | 998976  | 3.1.1   | acknowledged with reason code 0x00 |
      | 1 MiB plus 1 byte        | 1048577 | 5       | refused                            |
      | 1 MiB plus 1 byte        | 1048577 | 3.1.1   | refused                            |
