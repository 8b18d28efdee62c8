"""Private helpers shared by every layer: JSON values, number formatting, figure files.

Nothing here imports metareview, so any module can use it without a layering question.
"""
