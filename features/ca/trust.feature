@ca @login
Feature: Only verified, present CAs authenticate devices
  Only CA certificates in the verified state take part in device identity
  authentication, and a deleted CA authenticates nobody from that moment on.

  Sources: IoTDA API AddCertificate ("only CA certificates in verified state
  take effect") https://support.huaweicloud.com/intl/en-us/api-iothub/iot_06_v5_0014.html,
  DeleteCertificate https://support.huaweicloud.com/intl/en-us/api-iothub/iot_06_v5_0022.html;
  certlab docs/iotda.md §4.3, §8.3; the login-refusal table of
  docs/requirements.md.

  Background:
    Given an MQTT product

  @CA-UNVERIFIED @LOGIN-TLS
  Scenario Outline: a device certificate from an uploaded but unverified CA is refused over MQTT <version>
    Given an uploaded device CA "pending"
    And a registered device "meter-1" with a certificate from CA "pending"
    When device "meter-1" logs in over MQTT <version>
    Then the login is refused with reason "ca_not_verified"

    Examples:
      | version |
      | 3.1.1   |
      | 5       |

  @CA-UNVERIFIED @CA-VERIFY
  Scenario: verifying the CA lets the same device in
    Given an uploaded device CA "pending"
    And a registered device "meter-1" with a certificate from CA "pending"
    When I prove possession of CA "pending"
    Then the request succeeds
    When device "meter-1" logs in over MQTT 5
    Then the login succeeds

  @CA-DELETE
  Scenario: a deleted CA is gone from the project
    Given an uploaded device CA "acme"
    When I delete CA "acme"
    Then the request succeeds
    And CA "acme" no longer exists

  @CA-DELETE @LOGIN-TLS
  Scenario Outline: a device whose CA was deleted is refused over MQTT <version>
    Given a verified device CA "acme"
    And a registered device "meter-1" with a certificate from CA "acme"
    When I delete CA "acme"
    Then the request succeeds
    When device "meter-1" logs in over MQTT <version>
    Then the login is refused with reason "unknown_ca"

    Examples:
      | version |
      | 3.1.1   |
      | 5       |

  @CA-DELETE
  Scenario Outline: deleting a CA drops the live MQTT <version> sessions anchored on it
    Given a verified device CA "acme"
    And a registered device "meter-1" with a certificate from CA "acme"
    And device "meter-1" is connected over MQTT <version>
    When I delete CA "acme"
    Then the request succeeds
    And the session of device "meter-1" is closed by the platform within 5 seconds

    Examples:
      | version |
      | 3.1.1   |
      | 5       |

  @CA-DELETE
  Scenario: deleting one CA leaves devices anchored on another CA connected
    Given a verified device CA "acme"
    And a verified device CA "globex"
    And a registered device "meter-1" with a certificate from CA "acme"
    And a registered device "meter-2" with a certificate from CA "globex"
    And device "meter-1" is connected over MQTT 5
    And device "meter-2" is connected over MQTT 5
    When I delete CA "acme"
    Then the session of device "meter-1" is closed by the platform within 5 seconds
    And the session of device "meter-2" is still connected
