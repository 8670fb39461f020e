@acl
Feature: Devices use only their own topics
  A device publishes and subscribes only under $oc/devices/{its device_id}/.
  Denials are asserted with QoS 1 over MQTT 5, where PUBACK and SUBACK carry
  reason code 0x87 (not authorized).

  Sources: IoTDA topic list
  https://support.huaweicloud.com/intl/en-us/api-iothub/iot_06_v5_3004.html;
  IoTDA usage limits ("devices may only publish and subscribe to their own
  topics") https://support.huaweicloud.com/intl/en-us/productdesc-iothub/iot_04_0010.html;
  certlab docs/iotda.md §8.4, §8.5.

  Background:
    Given a verified device CA "acme"
    And an MQTT product
    And a registered device "meter-1" with a certificate from CA "acme"
    And device "meter-1" is connected over MQTT 5

  @ACL-OWN-TOPICS
  Scenario Outline: a device publishes to its own topic <topic>
    When device "meter-1" publishes with QoS 1 to "<topic>"
    Then the publish is acknowledged with reason code 0x00

    Examples:
      | topic                                               |
      | $oc/devices/{device_id}/sys/properties/report       |
      | $oc/devices/{device_id}/sys/messages/up             |
      | $oc/devices/{device_id}/user/custom                 |

  @ACL-OWN-TOPICS
  Scenario Outline: a device subscribes to its own topic filter <filter>
    When device "meter-1" subscribes with QoS 1 to "<filter>"
    Then the subscription is granted

    Examples:
      | filter                                      |
      | $oc/devices/{device_id}/sys/messages/down   |
      | $oc/devices/{device_id}/sys/commands/#      |
      | $oc/devices/{device_id}/user/+              |

  @ACL-OWN-TOPICS
  Scenario Outline: publishing to <whose> topic is refused with 0x87
    When device "meter-1" publishes with QoS 1 to "<topic>"
    Then the publish is refused with reason code 0x87
    And the session of device "meter-1" is still connected

    Examples:
      | whose                          | topic                                              |
      | another device's               | $oc/devices/{device:meter-2}/sys/properties/report |
      | a longer device_id's           | $oc/devices/{device_id}x/sys/messages/up           |
      | a topic outside $oc/devices    | factory/line-1/meter                               |
      | the $oc/devices root           | $oc/devices/                                       |

  @ACL-OWN-TOPICS
  Scenario Outline: subscribing to <whose> topics is refused
    When device "meter-1" subscribes with QoS 1 to "<filter>"
    Then the subscription is refused

    Examples:
      | whose                   | filter                                           |
      | another device's        | $oc/devices/{device:meter-2}/sys/messages/down   |
      | every device's          | $oc/devices/+/sys/messages/down                  |
      | all                     | #                                                |
      | a longer device_id's    | $oc/devices/{device_id}x/sys/messages/down       |

  @ACL-OWN-TOPICS
  Scenario: a QoS 0 publish to another device's topic does not reach it
    Given a registered device "meter-2" with a certificate from CA "acme"
    And device "meter-2" is connected over MQTT 5
    And device "meter-2" subscribes with QoS 1 to "$oc/devices/{device_id}/user/inbox"
    When device "meter-1" publishes with QoS 0 to "$oc/devices/{device:meter-2}/user/inbox"
    And device "meter-2" publishes with QoS 1 to "$oc/devices/{device_id}/user/inbox"
    Then device "meter-2" receives exactly 1 message on "$oc/devices/{device_id}/user/inbox" within 3 seconds

  @ACL-OWN-TOPICS
  Scenario: a message sent by the application reaches the device on its own topic
    Given device "meter-1" subscribes with QoS 1 to "$oc/devices/{device_id}/sys/messages/down"
    When I send the message "hello meter" to device "meter-1"
    Then the request succeeds
    And device "meter-1" receives a message containing "hello meter" on "$oc/devices/{device_id}/sys/messages/down" within 5 seconds
