using System.Text.Json.Nodes;

namespace Cairn.Contracts;

/// <summary>
/// A durable job in lists and in the cancel answer. <c>state</c>: pending, running, succeeded, failed, cancelled;
/// <c>phase</c> is the handler's own status word; <c>seconds</c> runs from the start (so far, while running).
/// </summary>
public sealed record JobSummary(Guid Id, string Type, string State, string? Phase, double Progress, DateTimeOffset Created,
    DateTimeOffset? Started, DateTimeOffset? Finished, double? Seconds, string? Error, int Attempts);

/// <summary>One job with its steps, the request it was given, its data (counters, resume state) and every item.</summary>
public sealed record JobDetail(Guid Id, string Type, string State, string? Phase, double Progress, DateTimeOffset Created,
    DateTimeOffset? Started, DateTimeOffset? Finished, double? Seconds, string? Error, int Attempts,
    IReadOnlyList<JobStepDto> Steps, JsonNode? Request, JsonNode? Data, IReadOnlyList<JobItemDto> Items);

/// <summary>A named step of a job. <c>state</c>: pending, running, done, failed, skipped.</summary>
public sealed record JobStepDto(string Name, string State, DateTimeOffset? Started, DateTimeOffset? Finished, string? Error);

/// <summary>One item of a job, with its own result and timings.</summary>
public sealed record JobItemDto(int Index, string Key, string State, string? Error, DateTimeOffset? Started, DateTimeOffset? Finished, double? Seconds, JsonObject? Data);

/// <summary>A job log line; <c>seq</c> is what <c>?after=</c> takes to read on from it.</summary>
public sealed record JobLogDto(long Seq, DateTimeOffset Time, string Level, string Message);
