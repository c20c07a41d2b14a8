namespace Cairn.Contracts;

/// <summary>The admin API's error body: <c>{"error":{"code":"not_found","message":"…"}}</c>.</summary>
public sealed record ApiError(ApiErrorDetail Error);

/// <summary>What went wrong: a snake_case <paramref name="Code"/> (<c>invalid_argument</c>, <c>not_found</c>, <c>already_exists</c>,
/// <c>conflict</c>, <c>forbidden</c>, <c>no_space</c>, <c>not_supported</c>, <c>internal</c>) and a one-line message.</summary>
public sealed record ApiErrorDetail(string Code, string Message);

/// <summary>The LUN clone API's error body: <c>{"status":"error","reason":"…"}</c>.</summary>
public sealed record LunError(string Status, string Reason);
