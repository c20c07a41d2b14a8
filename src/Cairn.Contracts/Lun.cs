using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cairn.Contracts;

// The LUN clone API's field names are the original's (camelCase flags, snake_case counters): spelled out here, never
// derived from the naming policy, so that the wire format stays the seed's.

/// <summary>POST /lun/api/v1.0/clone body.</summary>
public sealed record LunCloneRequest([property: JsonPropertyName("clones")] IReadOnlyList<LunCloneItem> Clones);

/// <summary>One clone-and-share item: clone <c>src</c> to <c>dst</c>, export it as target <c>wwn</c> to <c>initiators</c> only.</summary>
public sealed record LunCloneItem(
    [property: JsonPropertyName("src")] string Src,
    [property: JsonPropertyName("dst")] string Dst,
    [property: JsonPropertyName("wwn")] string Wwn,
    [property: JsonPropertyName("initiators")] IReadOnlyList<string> Initiators,
    [property: JsonPropertyName("createParent"), FlagField] JsonElement? CreateParent = null,
    [property: JsonPropertyName("properties")] IReadOnlyDictionary<string, string>? Properties = null,
    [property: JsonPropertyName("ip")] string? Ip = null,
    [property: JsonPropertyName("port")] int? Port = null);

/// <summary>DELETE /lun/api/v1.0/clone body (create-only fields are accepted and ignored).</summary>
public sealed record LunUncloneRequest([property: JsonPropertyName("clones")] IReadOnlyList<LunUncloneItem> Clones);

/// <summary>One item to remove: target <c>wwn</c>, then <c>dst</c> when <c>deleteClones</c> (or <c>deleteClone</c>) is true.</summary>
public sealed record LunUncloneItem(
    [property: JsonPropertyName("dst")] string Dst,
    [property: JsonPropertyName("wwn")] string Wwn,
    [property: JsonPropertyName("deleteClones"), FlagField] JsonElement? DeleteClones = null,
    [property: JsonPropertyName("deleteClone"), FlagField] JsonElement? DeleteClone = null);

/// <summary>POST /lun/api/v1.0/clone_repeat body.</summary>
public sealed record LunRepeatRequest([property: JsonPropertyName("id")] string Id);

/// <summary>The answer to a submitted LUN job (201, as the original answered).</summary>
public sealed record LunJobAccepted([property: JsonPropertyName("status")] string Status, [property: JsonPropertyName("job_id")] string JobId);

/// <summary>The liveness answer: <c>{"status":"ok","message":"test"}</c>.</summary>
public sealed record LunTestAnswer([property: JsonPropertyName("status")] string Status, [property: JsonPropertyName("message")] string Message);

/// <summary>A LUN job's status (see docs/api/lun-clone.md for each field). <c>error</c> only when failed, <c>items</c> only with <c>?items=1</c>.</summary>
public sealed record LunStatusAnswer(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("job_id")] string JobId,
    [property: JsonPropertyName("job_type")] string JobType,
    [property: JsonPropertyName("num_requested")] int NumRequested,
    [property: JsonPropertyName("num_clones")] int NumClones,
    [property: JsonPropertyName("num_targets")] int NumTargets,
    [property: JsonPropertyName("num_completed")] int NumCompleted,
    [property: JsonPropertyName("percent_completed")] double PercentCompleted,
    [property: JsonPropertyName("lag_time")] double LagTime,
    [property: JsonPropertyName("clone_time")] double CloneTime,
    [property: JsonPropertyName("udevd_time")] double UdevdTime,
    [property: JsonPropertyName("target_time")] double TargetTime,
    [property: JsonPropertyName("job_time")] double JobTime,
    [property: JsonPropertyName("num_failed")] int NumFailed,
    [property: JsonPropertyName("failed_items")] IReadOnlyList<LunStatusItem> FailedItems,
    [property: JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error = null,
    [property: JsonPropertyName("items"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<LunStatusItem>? Items = null);

/// <summary>One item's result in a LUN job status. <c>status</c>: pending, running, done, failed, skipped.</summary>
public sealed record LunStatusItem(
    [property: JsonPropertyName("dst")] string Dst,
    [property: JsonPropertyName("wwn")] string? Wwn,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error = null,
    [property: JsonPropertyName("clone_time"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? CloneTime = null,
    [property: JsonPropertyName("target_time"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? TargetTime = null,
    [property: JsonPropertyName("note"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Note = null);
