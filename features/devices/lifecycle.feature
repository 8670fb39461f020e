@devices @login
Feature: Device status and freezing
  A device is INACTIVE until its first login, ONLINE while connected and
  OFFLINE afterwards. A frozen device cannot log in, and freezing drops its
  live session.

  Sources: IoTDA API ShowDevice (status ONLINE|OFFLINE|ABNORMAL|INACTIVE|FROZEN)
  https://support.huaweicloud.com/intl/en-us/api-iothub/iot_06_v5_0055.html,
  FreezeDevice / UnfreezeDevice (huaweicloud-sdk-go-v3: "a frozen device
  cannot connect"); certlab docs/iotda.md §7.2, §7.3 and the
  login-refusal table of docs/requirements.md.

  Background:
    Given a verified device CA "acme"
    And an MQTT product
    And a registered device "meter-1" with a certificate from CA "acme"

  @DEV-STATUS
  Scenario Outline: INACTIVE until the first login, ONLINE while connected over MQTT <version>, OFFLINE after
    Then device "meter-1" has status "INACTIVE"
    When device "meter-1" logs in over MQTT <version>
    Then the login succeeds
    And device "meter-1" has status "ONLINE" within 5 seconds
    When device "meter-1" disconnects
    Then device "meter-1" has status "OFFLINE" within 5 seconds

    Examples:
      | version |
      | 3.1.1   |
      | 5       |

  @DEV-STATUS
  Scenario: a refused login leaves a new device INACTIVE
    Given device "meter-1" also holds a certificate "spare" from CA "acme"
    When device "meter-1" logs in over MQTT 5 with its certificate "spare"
    Then the login is refused with reason "fingerprint_mismatch"
    And device "meter-1" has status "INACTIVE"

  @DEV-FREEZE
  Scenario Outline: a frozen device is refused over MQTT <version>
    When I freeze device "meter-1"
    Then the request succeeds
    When device "meter-1" logs in over MQTT <version>
    Then the login is refused with reason "device_frozen"

    Examples:
      | version |
      | 3.1.1   |
      | 5       |

  @DEV-FREEZE
  Scenario Outline: freezing drops the live MQTT <version> session
    Given device "meter-1" is connected over MQTT <version>
    When I freeze device "meter-1"
    Then the request succeeds
    And the session of device "meter-1" is closed by the platform within 5 seconds

    Examples:
      | version |
      | 3.1.1   |
      | 5       |

  @DEV-FREEZE
  Scenario: an unfrozen device logs in again
    When I freeze device "meter-1"
    And I unfreeze device "meter-1"
    Then the request succeeds
    When device "meter-1" logs in over MQTT 5
    Then the login succeeds
