@devices
Feature: Registering devices
  node_id is 1–64 characters of [A-Za-z0-9_-] (an IMEI, a MAC address, a
  serial number). Without an explicit device_id the platform allocates
  device_id = product_id + "_" + node_id; a device_id is unique across the
  platform, also under concurrent registration. A new device is INACTIVE.

  Sources: IoTDA API AddDevice
  https://support.huaweicloud.com/intl/en-us/api-iothub/iot_06_v5_0046.html;
  IoTDA "MQTT(S) Certificate Authentication", step "Registering a device";
  certlab docs/iotda.md §7.1, §7.2 and §9.

  Background:
    Given an MQTT product

  @DEV-NODEID @DEV-ID
  Scenario Outline: a device whose node_id is <kind> "<node_id>" gets device_id product_id_node_id
    When I register a device with node_id "<node_id>"
    Then the request succeeds
    And the device_id is the product_id, an underscore and "<node_id>"
    And the device shows node_id "<node_id>"

    Examples:
      | kind              | node_id                                                          |
      | a MAC address     | A4-C1-38-5F-22-9B                                                |
      | a serial number   | SN2024X0042_B                                                    |
      | an IMEI           | 356938035643809                                                  |
      | one character     | 7                                                                |
      | 64 characters     | abcdefghijABCDEFGHIJ0123456789_-abcdefghijABCDEFGHIJ0123456789_- |

  @DEV-NODEID
  Scenario Outline: a node_id <problem> is refused
    When I register a device with node_id "<node_id>"
    Then the request is refused with HTTP 400 and error code "IOTDA.000006"

    Examples:
      | problem                      | node_id                                                           |
      | that is empty                |                                                                   |
      | of 65 characters             | abcdefghijABCDEFGHIJ0123456789_-abcdefghijABCDEFGHIJ0123456789_-x |
      | with colons (a raw MAC)      | A4:C1:38:5F:22:9B                                                 |
      | with a space                 | meter 1                                                           |
      | with a slash                 | meters/1                                                          |
      | with non-ASCII letters       | zähler-1                                                          |

  @DEV-ID
  Scenario: an explicit device_id is kept
    When I register a device with node_id "meter-7" and a device_id of my choice
    Then the request succeeds
    And the device_id is the one I chose

  @DEV-ID
  Scenario: a device_id cannot be registered twice
    Given a registered device "first" with node_id "meter-1"
    When I register a device with node_id "meter-2" and the device_id of "first"
    Then the request is refused with HTTP 400 and error code "IOTDA.014031"

  @DEV-ID
  Scenario: the same node_id under the same product is refused as a duplicate device_id
    Given a registered device "first" with node_id "meter-1"
    When I register a device with node_id "meter-1"
    Then the request is refused with HTTP 400 and error code "IOTDA.014031"

  @DEV-ID
  Scenario: concurrent registrations of one device_id admit exactly one
    When 8 clients register a device with node_id "race-1" at the same time
    Then exactly 1 registration succeeds and 7 are refused with error code "IOTDA.014031"
    And the product lists 1 device with node_id "race-1"

  @DEV-ID @reference
  Scenario: a device_id is unique across projects
    Given a registered device "first" with node_id "meter-1"
    And a fresh project
    And an MQTT product
    When I register a device with node_id "meter-2" and the device_id of "first"
    Then the request is refused with HTTP 400 and error code "IOTDA.014031"
