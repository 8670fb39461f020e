@ca @reference @quota
Feature: At most 100 device CA certificates per project
  IoTDA allows at most 100 device CA certificates ("单租户下证书上限:100");
  the 101st upload is refused. certlab scopes the quota to a project and
  requires it to hold under concurrent uploads. Each scenario uses a project
  of its own (certlab admin API), so these scenarios need the reference
  platform or another target with an admin token.

  Sources: IoTDA "MQTT(S) Certificate Authentication" (constraints: up to 100
  device CA certificates); IoTDA usage limits
  https://support.huaweicloud.com/intl/en-us/productdesc-iothub/iot_04_0010.html;
  certlab docs/iotda.md §3 (error table), §4.4, §9 and the
  CA-QUOTA error code IOTDA.014302 (iotda/types.go).

  Background:
    Given a fresh project

  @CA-QUOTA
  Scenario: the 101st device CA is refused
    When I upload 100 distinct device CAs
    Then all 100 uploads succeed
    When I upload another distinct device CA
    Then the request is refused with HTTP 400 and error code "IOTDA.014302"
    And the project lists 100 device CAs

  @CA-QUOTA @CA-DELETE
  Scenario: deleting a CA at the quota makes room for exactly one more
    When I upload 100 distinct device CAs
    Then all 100 uploads succeed
    When I delete one of my CAs
    And I upload another distinct device CA
    Then the request succeeds
    When I upload another distinct device CA
    Then the request is refused with HTTP 400 and error code "IOTDA.014302"
    And the project lists 100 device CAs

  @CA-QUOTA
  Scenario: concurrent uploads never leave more than 100 CAs
    When I upload 120 distinct device CAs, 12 at a time
    Then exactly 100 uploads succeed and 20 are refused with error code "IOTDA.014302"
    And the project lists 100 device CAs
