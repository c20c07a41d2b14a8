namespace Cairn.Core.Jobs;

/// <summary>How failures read in job records: one line, never a stack trace.</summary>
public static class JobErrors
{
    /// <summary>
    /// A <see cref="CairnException"/>'s message as is (it is written for users); any other exception as
    /// <c>Type: message</c>. The full exception goes to the logger only.
    /// </summary>
    public static string Describe(Exception ex) => ex switch
    {
        CairnException c => c.Message,
        OperationCanceledException => "cancelled",
        _ => $"{ex.GetType().Name}: {ex.Message}",
    };
}
