@ca
Feature: Listing device CA certificates
  The CA list is paged IoTDA style: newest first (descending certificate_id),
  limit 1–50 (default 10), marker = the last certificate_id of the previous
  page, offset 0–500 skips records after the marker; page.count is the total.

  Sources: IoTDA API ListCertificates
  https://support.huaweicloud.com/intl/en-us/api-iothub/iot_06_v5_0099.html;
  certlab docs/iotda.md §3 (pagination) and §4.2.

  @CA-LIST
  Scenario: paging through the CA list with limit and marker
    Given I have uploaded 5 device CAs
    When I page through the CA list 2 at a time
    Then no page holds more than 2 CAs
    And the listed CAs come in descending certificate_id order
    And each of my 5 CAs is listed exactly once
    And every page reports a total count of at least 5

  @CA-LIST
  Scenario Outline: a list request with <what> is refused
    When I list the CAs with limit <limit> and offset <offset>
    Then the request is refused with HTTP 400 and error code "<code>"

    Examples:
      | what              | limit | offset | code         |
      | limit 51          | 51    | 0      | IOTDA.000017 |
      | offset 501        | 10    | 501    | IOTDA.000018 |

  @CA-LIST @reference
  Scenario: in a project of its own the count is exact and offset skips records
    Given a fresh project
    And I have uploaded 5 device CAs
    When I list the CAs with limit 2 and offset 1
    Then the request succeeds
    And the page lists my CAs 4, 3 in that order
    And the reported total count is 5

  @CA-LIST @reference
  Scenario: the marker continues after the last CA of the previous page
    Given a fresh project
    And I have uploaded 5 device CAs
    When I list the CAs with limit 2 after the marker of my CA 4
    Then the request succeeds
    And the page lists my CAs 3, 2 in that order
